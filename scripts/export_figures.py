"""Copy a few key figures from the executed notebooks in build/ into docs/figures/ as small PNGs.

The README shows these pictures. They come from ``make run`` (which writes
``build/NN_*.ipynb`` with outputs); this script executes any notebook it needs that is
not in build/ yet, then takes the first PNG output of each chosen cell, shrinks it to at
most ``--width`` pixels wide and writes it optimised.

Usage: python scripts/export_figures.py [--build build] [--out docs/figures] [--width 480]
       [--rerun]
"""

from __future__ import annotations

import argparse
import base64
import io
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import nbformat
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

class Picture(NamedTuple):
    """One README figure: the first PNG output of ``cell`` in ``build/<stem>.ipynb``."""

    stem: str
    cell: str
    filename: str
    what: str
    width: int | None = None  # pixels; None: the --width default


FIGURES = [
    Picture("01_torchvision_classification", "cell-10", "01_top5.png",
            "a photo beside its top-5 classes"),
    Picture("04_attention_by_hand", "cell-15", "04_position_similarity.png",
            "cosine similarity of the learned position embeddings (ViT paper, Figure 7)"),
    Picture("04_attention_by_hand", "cell-27", "04_heads.png",
            "attention of the class token and of one patch, per head"),
    Picture("05_attention_rollout", "cell-09", "05_rollout.png",
            "last-layer attention beside the rollout of all layers"),
    Picture("06_keras_vit_from_scratch", "cell-36", "06_curves.png",
            "the keras-io recipe and the improved one, trained side by side", width=960),
    Picture("07_dino_attention", "cell-14", "07_heads.png",
            "last-layer class-token attention per head"),
]


def first_png(notebook: nbformat.NotebookNode, cell_id: str) -> bytes:
    """The first image/png output of the cell with ``cell_id``.

    Raises:
        LookupError: no such cell, or it has no PNG output.
    """
    for cell in notebook.cells:
        if cell.get("id") == cell_id:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "image/png" in data:
                    return base64.b64decode(data["image/png"])
            raise LookupError(f"cell {cell_id} has no PNG output")
    raise LookupError(f"no cell {cell_id}")


def shrink(png: bytes, width: int) -> Image.Image:
    """The picture scaled down to at most ``width`` pixels wide, in 256 colours.

    A palette of 256 colours keeps heat maps and photos recognisable at a third of the
    size of full RGB.
    """
    image = Image.open(io.BytesIO(png)).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)),
                             Image.Resampling.LANCZOS)
    return image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=ROOT / "build")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--rerun", action="store_true",
                        help="execute the notebooks again even if build/ has them")
    args = parser.parse_args(argv)

    stems = sorted({picture.stem for picture in FIGURES})
    missing = [stem for stem in stems if args.rerun or not (args.build / f"{stem}.ipynb").is_file()]
    if missing:
        notebooks = [str(ROOT / "notebooks" / f"{stem}.ipynb") for stem in missing]
        subprocess.run([sys.executable, str(ROOT / "scripts" / "run_notebooks.py"), *notebooks,
                        "--out", str(args.build)], check=True)

    args.out.mkdir(parents=True, exist_ok=True)
    print("| figure | size | from |\n|---|---:|---|")
    for picture in FIGURES:
        notebook = nbformat.read(args.build / f"{picture.stem}.ipynb", as_version=4)
        try:
            image = shrink(first_png(notebook, picture.cell), picture.width or args.width)
        except LookupError as err:
            print(f"{picture.stem}: {err}; was the notebook changed? Update FIGURES in "
                  f"{Path(__file__).name}.", file=sys.stderr)
            return 1
        target = args.out / picture.filename
        image.save(target, optimize=True)
        shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
        print(f"| {shown} | {target.stat().st_size // 1024} kB | {picture.stem} {picture.cell} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
