"""Every explorer works in a real browser: run all cells, move sliders, see new pictures.

For each notebook that builds an explorer (plus a tiny self-made one that checks the
harness itself), the test opens it in JupyterLab, runs all cells, waits for the
explorer's status line, then moves its first slider with the keyboard and by typing a
value. After every move both the picture and the status line must change. The time
from key press to new picture is measured inside the page; medians are written to
``build/browser-latency.json`` (``make bench`` reports them).
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import nbformat
import pytest

from helpers.explorers.base import STATUS_CLASS
from helpers.setup.notebook import SETUP_CELL

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RUN_ALL_TIMEOUT_MS = 900_000  # the whole notebook runs before the explorer appears
MOVES = 10
# Pause between moves, as a person's key presses are: a press that lands while the
# previous value is still syncing with the kernel can be lost in ipywidgets' front end.
SETTLE_MS = 400

SELF_TEST_NOTEBOOK = "00_browser_selftest.ipynb"
SELF_TEST_CODE = """
import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from helpers.explorers.base import Explorer

maps = np.random.default_rng(0).random((12, 14, 14))   # (layers, grid, grid)
fig = Figure(figsize=(3, 3))
artist = fig.subplots().imshow(maps[0], vmin=0, vmax=1)

def draw(layer):
    artist.set_data(maps[layer])
    return f"layer {layer}"

Explorer({"layer": widgets.IntSlider(value=0, min=0, max=11, description="layer")}, fig, draw)
"""


def _uses_explorer(path: Path) -> bool:
    notebook = nbformat.read(path, as_version=4)
    return any(cell.cell_type == "code" and re.search(r"\bexplorer\b", cell.source, re.I)
               for cell in notebook.cells)


EXPLORER_NOTEBOOKS = [p.name for p in NOTEBOOKS if _uses_explorer(p)]


def _write_self_test(root: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                       "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(SETUP_CELL),
                      nbformat.v4.new_code_cell(SELF_TEST_CODE.strip())]
    nbformat.write(notebook, root / SELF_TEST_NOTEBOOK)


OBSERVE_JS = """
([statusClass]) => {
  const status = document.querySelectorAll('.' + statusClass)[0];
  const box = status.closest('.widget-vbox');
  const img = box.querySelector('img');
  window.__vit = {pressedAt: null, changedAt: null, src: img.src};
  document.addEventListener('keydown', () => { window.__vit.pressedAt = performance.now(); },
                            true);
  new MutationObserver(() => {
    if (img.src !== window.__vit.src) {
      window.__vit.src = img.src;
      window.__vit.changedAt = performance.now();
    }
  }).observe(img, {attributes: true, attributeFilter: ['src']});
}
"""


def _run_all(page, url: str) -> None:
    page.goto(url)
    page.get_by_text(re.compile(r"\|\s*Idle")).first.wait_for(timeout=120_000)
    page.locator(".jp-Notebook:visible").first.click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_text("Run All Cells", exact=True).click()


def _error_outputs(page) -> list[str]:
    """Text of every traceback or stderr output on the page (what went wrong, if anything)."""
    outputs = page.locator(".jp-OutputArea-output[data-mime-type*='stderr'], "
                           ".jp-OutputArea-output[data-mime-type*='error']")
    return [text[-2000:] for text in outputs.all_text_contents()]


def _status_text(page) -> str:
    """The first status line's text. textContent, not innerText: JupyterLab 4 skips rendering
    cells scrolled out of view (``content-visibility: auto``), and innerText of skipped
    content is empty, so a status below or above the viewport would read ''."""
    return page.locator(f".{STATUS_CLASS}").first.text_content() or ""


def _move_and_measure(page, action) -> float:
    """Do ``action`` (a key press or typed value), wait for new picture and status."""
    before_status = _status_text(page)
    before_src = page.evaluate("() => window.__vit.src")
    page.evaluate("() => { window.__vit.changedAt = null; }")
    action()
    try:
        page.wait_for_function(
            "([before]) => window.__vit.changedAt !== null && window.__vit.src !== before",
            arg=[before_src], timeout=20_000)
        page.wait_for_function(
            "([cls, before]) => document.querySelectorAll('.' + cls)[0].textContent !== before",
            arg=[STATUS_CLASS, before_status], timeout=20_000)
    except Exception as err:  # say what the page showed, not only that a wait ran out
        state = page.evaluate("() => ({changedAt: window.__vit.changedAt,"
                              " active: document.activeElement.className})")
        raise AssertionError(f"no new picture and status after the move: status was "
                             f"{before_status!r}, is {_status_text(page)!r}; page state {state}"
                             ) from err
    return page.evaluate("() => window.__vit.changedAt - window.__vit.pressedAt")


def _exercise_explorer(page, server_url: str, name: str) -> dict:
    _run_all(page, server_url)
    status = page.locator(f".{STATUS_CLASS}").first
    status.wait_for(timeout=RUN_ALL_TIMEOUT_MS)
    try:  # the first picture waits for the explorer's precomputation (seconds; minutes at most
        #   on a busy machine)
        page.wait_for_function(
            "([cls]) => (document.querySelectorAll('.' + cls)[0] || {}).textContent"
            "?.includes('drawn')", arg=[STATUS_CLASS], timeout=300_000)
    except Exception as err:  # say what the status and any error output showed instead
        shot = ROOT / "build" / f"browser-failure-{Path(name).stem}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        raise AssertionError(f"{name}: no first picture; the status reads "
                             f"{_status_text(page)!r}; error outputs: {_error_outputs(page)}; "
                             f"screenshot {shot}") from err
    status.scroll_into_view_if_needed()
    page.evaluate(OBSERVE_JS, [STATUS_CLASS])
    box = status.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
    handle = box.locator(".noUi-handle").first
    readout = box.locator(".widget-readout").first

    latencies = []
    low, high = (float(handle.get_attribute(f"aria-value{end}")) for end in ("min", "max"))
    for move in range(MOVES):
        value = float(handle.get_attribute("aria-valuenow"))
        # right for the first half, left for the second, never against an end stop
        right = (move < MOVES // 2 and value < high) or value <= low
        key = "ArrowRight" if right else "ArrowLeft"
        handle.focus()
        latencies.append(_move_and_measure(page, lambda key=key: handle.press(key)))
        assert float(handle.get_attribute("aria-valuenow")) != value, f"{key} did not move"
        page.wait_for_timeout(SETTLE_MS)

    value_before = readout.inner_text().strip()
    target = "2" if value_before != "2" else "1"

    def type_value() -> None:
        readout.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(target)
        page.keyboard.press("Enter")

    latencies.append(_move_and_measure(page, type_value))
    assert readout.inner_text().strip() == target
    assert "drawn in" in _status_text(page)
    return {"moves": len(latencies), "median_ms": statistics.median(latencies),
            "max_ms": max(latencies)}


def _record(name: str, result: dict) -> None:
    path = ROOT / "build" / "browser-latency.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[name] = result
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


@pytest.fixture
def lab(lab_server):
    """The shared server; every kernel a test started is stopped after it."""
    yield lab_server
    lab_server.shutdown_kernels()


def test_harness_drives_a_minimal_explorer(page, lab):
    _write_self_test(lab.root)
    result = _exercise_explorer(page, lab.notebook_url(SELF_TEST_NOTEBOOK), SELF_TEST_NOTEBOOK)
    _record(SELF_TEST_NOTEBOOK, result)
    assert result["moves"] == MOVES + 1 and result["median_ms"] > 0


@pytest.mark.parametrize("name", EXPLORER_NOTEBOOKS)
def test_notebook_explorer_responds_in_the_browser(page, lab, name):
    result = _exercise_explorer(page, lab.notebook_url(name), name)
    _record(name, result)
    assert result["moves"] == MOVES + 1 and result["median_ms"] > 0
