"""report.html opened from disk in a real headless Chromium (Debian's, driven by playwright): the page draws
without a console error, fits 1280 px, its plots' text never overlaps, each quality plot has a visible legend
with one entry per method, and text from records is shown, never run."""
import dataclasses
import io
import shutil
from pathlib import Path

import pytest

from test_report import golden_records, record

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Offline machine: no background networking, no component updates, a throwaway profile (see env notes).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEFAULT = Path(__file__).resolve().parents[2] / "results" / "default"
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (`make test` "
                                                             "installs it)")

# Per plot: every visible text element's box, the legend's box and entries. Plotly draws text as SVG <text>.
INSPECT = """() => [...document.querySelectorAll('.js-plotly-plot')].map(plot => {
  const boxes = [...plot.querySelectorAll('svg text')].filter(t => {
    const style = getComputedStyle(t);
    const r = t.getBoundingClientRect();
    return t.textContent.trim() && style.display !== 'none' && style.visibility !== 'hidden' &&
           style.opacity !== '0' && r.width > 0 && r.height > 0;
  }).map(t => { const r = t.getBoundingClientRect();
                return [t.textContent, r.left, r.top, r.right, r.bottom]; });
  const legend = plot.querySelector('.legend');
  const box = legend ? legend.getBoundingClientRect() : null;
  return {id: plot.id, texts: boxes, legend: box ? [box.width, box.height] : null,
          entries: [...plot.querySelectorAll('.legend .traces .legendtext')].map(t => t.textContent),
          traces: plot.data.length, width: plot.getBoundingClientRect().right};
})"""


def overlapping(texts, slack=1.0):
    """Pairs of text boxes that overlap by more than `slack` px both ways."""
    out = []
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            if min(a[3], b[3]) - max(a[1], b[1]) > slack and min(a[4], b[4]) - max(a[2], b[2]) > slack:
                out.append((a[0], b[0]))
    return out


def open_report(path, width=1280):
    from playwright.sync_api import sync_playwright

    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: errors.append(f"network: {r.url}") if not r.url.startswith(("file:", "data:"))
                else None)
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        found = {"plots": page.evaluate(INSPECT), "scroll_width": page.evaluate("document.documentElement.scrollWidth"),
                 "method_cells": page.locator("td.l").all_inner_texts(), "pwned": page.evaluate("window.pwned === 1"),
                 "tables": page.locator("table").count(), "errors": errors,
                 "screenshot": page.screenshot(full_page=True)}
        browser.close()
    return found


def check_layout(found, methods: set[str]):
    assert not found["errors"], found["errors"]
    assert found["scroll_width"] <= 1280, found["scroll_width"]  # wide tables scroll inside their own box
    plots = found["plots"]
    assert plots
    for plot in plots:
        assert not overlapping(plot["texts"]), (plot["id"], overlapping(plot["texts"]))
        assert plot["width"] <= 1280
    quality = [p for p in plots if p["id"].endswith(("quality-memory", "quality-time"))]
    assert quality
    for plot in quality:
        assert plot["legend"] and plot["legend"][0] > 50 and plot["legend"][1] > 50, plot["legend"]
        entries = [e for e in plot["entries"] if e != "Pareto front"]
        assert len(entries) == len(set(entries)) == plot["traces"] - ("Pareto front" in plot["entries"])
        assert set(entries) == methods  # one trace per method, each in the legend


@needs_chromium
def test_report_renders_in_chromium(tmp_path):
    from PIL import Image

    from benchhub.report.html import render_html

    evil = record("lora", cider=2.5, options={"target_modules": "a|b<script>window.pwned=1</script>"})
    evil = dataclasses.replace(evil, train={**evil.train, "steps": 200, "loss_curve": [3.0, 1.5, 0.9, 0.7]})
    path = tmp_path / "report.html"
    path.write_text(render_html(golden_records() + [evil], "golden"))
    found = open_report(path)
    check_layout(found, {"zero-shot", "full", "lora", "lora(target_modules=q_proj)", evil.label})
    assert found["tables"] >= 2  # the leaderboard and the memory table, as leaderboard.md has them
    assert not found["pwned"] and any("<script>" in cell for cell in found["method_cells"])  # text, never run
    pixels = Image.open(io.BytesIO(found["screenshot"])).convert("L")
    lo, hi = pixels.getextrema()
    assert hi - lo > 100  # not a blank page


@needs_chromium
@pytest.mark.skipif(not (DEFAULT / "leaderboard.md").is_file(), reason="no committed default results")
def test_default_suite_report_in_chromium(tmp_path):
    """The committed default suite's report (the one the README shows): every table leaderboard.md has, six
    plots per table, nothing overlapping, nothing fetched from the network."""
    from benchhub.report.html import render_html
    from benchhub.store import Store

    records = Store(DEFAULT.parent, "default").records()
    path = tmp_path / "report.html"
    path.write_text(render_html(records, "default"))
    found = open_report(path)
    markdown_tables = sum(1 for line in (DEFAULT / "leaderboard.md").read_text().splitlines()
                          if line.startswith("|:") or line.startswith("|-"))
    assert found["tables"] == markdown_tables >= 3
    kinds = sorted(p["id"].split("-", 2)[2] for p in found["plots"])
    assert kinds == ["forest", "loss", "memory-split", "quality-memory", "quality-time", "sweep"]
    ranked = {line.split("`")[1] for line in (DEFAULT / "leaderboard.md").read_text().splitlines()
              if line.startswith("| ") and "`" in line and line.split("|")[1].strip() not in ("", "–", "Rank")
              and "n=" in line}
    check_layout(found, ranked)


DOMAIN = DEFAULT.parent / "domain-adaptation"


@needs_chromium
@pytest.mark.skipif(not (DOMAIN / "leaderboard.md").is_file(), reason="no committed domain-adaptation results")
def test_domain_adaptation_report_in_chromium(tmp_path):
    """The committed data-budget and augmentation suite's report: its learning curves draw, every table is
    there, nothing overlaps, nothing is fetched."""
    from benchhub.report.html import render_html
    from benchhub.store import Store

    path = tmp_path / "report.html"
    path.write_text(render_html(Store(DOMAIN.parent, DOMAIN.name).records(), DOMAIN.name))
    found = open_report(path)
    markdown_tables = sum(1 for line in (DOMAIN / "leaderboard.md").read_text().splitlines()
                          if line.startswith("|:") or line.startswith("|-"))
    assert found["tables"] == markdown_tables >= 4
    assert "learning-curve" in {p["id"].split("-", 2)[2] for p in found["plots"]}
    ranked = {line.split("`")[1] for line in (DOMAIN / "leaderboard.md").read_text().splitlines()
              if line.startswith("| ") and "`" in line and line.split("|")[1].strip() not in ("", "–", "Rank")
              and "n=" in line and not line.split("|")[1].strip().startswith("`")}  # not the budget table's rows
    check_layout(found, ranked)
