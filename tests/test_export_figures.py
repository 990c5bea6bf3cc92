"""scripts/export_figures.py: README pictures taken from executed notebooks."""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
import pytest
from PIL import Image
from script_loader import load_script
from uploads import png_bytes

export_figures = load_script("export_figures")


def _png(width: int, height: int) -> bytes:
    return png_bytes(Image.new("RGBA", (width, height), (200, 30, 30, 255)))


def _executed(path: Path, png: bytes) -> None:
    notebook = nbformat.v4.new_notebook()
    text = nbformat.v4.new_code_cell("print(1)")
    text.id = "cell-01"
    text.outputs = [nbformat.v4.new_output("stream", text="1\n")]
    picture = nbformat.v4.new_code_cell("fig")
    picture.id = "cell-02"
    picture.outputs = [nbformat.v4.new_output(
        "display_data", data={"image/png": base64.b64encode(png).decode(), "text/plain": "F"})]
    notebook.cells = [text, picture]
    nbformat.write(notebook, path)


def test_exports_the_chosen_cells_png_shrunk(tmp_path, monkeypatch, capsys):
    build, out = tmp_path / "build", tmp_path / "figures"
    build.mkdir()
    _executed(build / "01_demo.ipynb", _png(1500, 600))
    monkeypatch.setattr(export_figures, "FIGURES",
                        [export_figures.Picture("01_demo", "cell-02", "demo.png", "demo")])
    assert export_figures.main(["--build", str(build), "--out", str(out), "--width", "300"]) == 0
    image = Image.open(out / "demo.png")
    assert image.size == (300, 120) and image.mode == "P"  # a 256-colour palette
    assert "demo.png" in capsys.readouterr().out


def test_a_cell_without_a_picture_is_reported(tmp_path, monkeypatch, capsys):
    build = tmp_path / "build"
    build.mkdir()
    _executed(build / "01_demo.ipynb", _png(10, 10))
    notebook = nbformat.read(build / "01_demo.ipynb", as_version=4)
    with pytest.raises(LookupError, match="cell-01 has no PNG"):
        export_figures.first_png(notebook, "cell-01")
    with pytest.raises(LookupError, match="no cell cell-09"):
        export_figures.first_png(notebook, "cell-09")
    monkeypatch.setattr(export_figures, "FIGURES",
                        [export_figures.Picture("01_demo", "cell-01", "x.png", "x")])
    assert export_figures.main(["--build", str(build), "--out", str(tmp_path / "f")]) == 1
    assert "Update FIGURES" in capsys.readouterr().err


def test_figures_name_real_notebooks_and_cells() -> None:
    root = Path(__file__).resolve().parent.parent
    for picture in export_figures.FIGURES:
        notebook = nbformat.read(root / "notebooks" / f"{picture.stem}.ipynb", as_version=4)
        cell = next((c for c in notebook.cells if c.get("id") == picture.cell), None)
        assert cell is not None and cell.cell_type == "code", picture
        assert picture.filename.endswith(".png") and picture.filename[:2] == picture.stem[:2]
        assert (root / "docs" / "figures" / picture.filename).is_file(), "run make figures"
