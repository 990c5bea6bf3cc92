"""With no network, no weights and no data, every notebook still runs to the end and says so.

nbval (in CI) runs the notebooks with the shared stand-in weights and CIFAR-10 images. This
runs each one again with neither: every model is then a randomly initialised architecture
and the Keras notebook trains on scikit-learn's digits. Each notebook must finish without
an error and name what it used in one line.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from script_loader import load_script

from helpers.setup.config import DATA_ENV, WEIGHTS_ENV

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

run_notebooks = load_script("run_notebooks")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_runs_to_the_end_with_nothing_local(path: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (WEIGHTS_ENV, DATA_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIT_NOTEBOOKS_OFFLINE", "1")  # the kernel inherits this environment
    monkeypatch.setenv("VIT_NOTEBOOKS_SMOKE", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)

    result = run_notebooks.run_one(path, tmp_path, timeout=600)

    assert result.status == "ok", result.status
    executed = nbformat.read(tmp_path / path.name, as_version=4)
    text = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")
    if path.stem.startswith("06"):
        assert "data: scikit-learn digits" in text and "no cifar10_test.npz" in text
    else:
        assert result.weights and all(w.endswith(": random") for w in result.weights), result
        assert f"{WEIGHTS_ENV} unset" in text  # the one line says why
