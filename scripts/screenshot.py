"""The README's picture of the default suite's report: results/default/report.html (regenerated from the committed
records) opened in headless Chromium at 1280 px, the top of the page saved as docs/report.png.

    python scripts/screenshot.py          # after re-measuring results/ (with scripts/readme.py)
"""
from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HEIGHT = 2300  # the leaderboard table and the two quality plots


def main() -> int:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from benchhub.report import write_leaderboard
    from benchhub.store import Store

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("needs Debian's chromium (apt-get install chromium)", file=sys.stderr)
        return 2
    store = Store(ROOT / "results", "default")
    write_leaderboard(store)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": HEIGHT})
        page.goto((store.dir / "report.html").as_uri())
        page.wait_for_load_state("load")
        shot = page.screenshot(full_page=False)
        browser.close()
    out = ROOT / "docs" / "report.png"
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    small = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
    small.quantize(colors=256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE).save(out, optimize=True)
    print(f"{out} ({out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
