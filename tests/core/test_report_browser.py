"""report.html opened from disk in a real headless Chromium (Debian's, driven by playwright)."""
import dataclasses
import io
import shutil

import pytest

from test_report import golden_records, record

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Offline machine: no background networking, no component updates, a throwaway profile (see env notes).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (`make test` installs it)")
def test_report_renders_in_chromium(tmp_path):
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from benchhub.report.html import render_html

    evil = record("lora", cider=2.5, options={"target_modules": "a|b<script>window.pwned=1</script>"})
    evil = dataclasses.replace(evil, train={**evil.train, "steps": 200, "loss_curve": [3.0, 1.5, 0.9, 0.7]})
    path = tmp_path / "report.html"
    path.write_text(render_html(golden_records() + [evil], "golden"))
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        rows = page.locator("table tr").count()
        images = page.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        pwned = page.evaluate("window.pwned === 1")
        method_cells = page.locator("td.l").all_inner_texts()
        shot = page.screenshot(full_page=True)
        browser.close()
    assert not errors, errors
    assert rows >= 9  # a header and the eight methods of the golden table
    assert len(images) == 4 and all(done and w > 0 and h > 0 for done, w, h in images), images
    assert not pwned and any("<script>" in cell for cell in method_cells)  # shown as text, never run
    pixels = Image.open(io.BytesIO(shot)).convert("L")
    lo, hi = pixels.getextrema()
    assert hi - lo > 100  # not a blank page
