"""Train notebook 06's two Keras ViT recipes for the same CPU wall-clock budget.

Both recipes (the keras-io seed, faithful, and the improved one) train on the offline
CIFAR-10 images in ``$VIT_NOTEBOOKS_DATA/cifar10_test.npz`` (9,000 train, of which 900
validate, and 1,000 test), each for ``--minutes`` of training time. The test set is
evaluated at ``--evaluations`` regular times with the clock paused, and once more after
restoring the best-validation checkpoint. The script prints a Markdown table of test
accuracy against time for both recipes, then a summary.

Runs unattended; by default each recipe trains 5 minutes (about 13 minutes in all).

Usage: python scripts/bench_keras_recipes.py [--minutes 5] [--evaluations 10]
       [--threads N] [--checkpoints DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def run_recipe(name: str, data: dict, minutes: float, evaluations: int, checkpoints: Path,
               seed: int) -> dict:
    """Train one recipe for ``minutes``; return its TimeBudget records and final scores."""
    import keras

    from helpers.keras.model import build_improved_vit, build_seed_vit
    from helpers.keras.training import (
        IMPROVED_RECIPE,
        SEED_RECIPE,
        TimeBudget,
        predict_logits,
        scores,
        train,
    )

    keras.utils.set_random_seed(seed)
    build, recipe = ((build_seed_vit, SEED_RECIPE) if name == "faithful"
                     else (build_improved_vit, IMPROVED_RECIPE))
    model = build(data["x_train"], data["num_classes"])
    steps_per_epoch = math.ceil(len(data["x_train"]) / recipe.batch_size)
    budget = TimeBudget(minutes * 60, data["x_test"], data["y_test"], evaluations=evaluations,
                        recipe=recipe, steps_per_epoch=steps_per_epoch)
    start = time.perf_counter()
    train(model, recipe, data["x_train"], data["y_train"], data["x_val"], data["y_val"],
          epochs=10_000, checkpoint=checkpoints / f"bench_{name}.weights.h5",
          num_classes=data["num_classes"], callbacks=[budget], verbose=0)
    best = scores(predict_logits(model, data["x_test"]), data["y_test"])
    wall = time.perf_counter() - start
    print(f"  {name}: {budget.records[-1]['epochs']:.1f} epochs in "
          f"{budget.records[-1]['seconds']:.0f} s of training ({wall:.0f} s wall), test accuracy "
          f"{budget.records[-1]['accuracy']:.1%}, best checkpoint {best['accuracy']:.1%}",
          flush=True)
    return {"records": budget.records, "best": best, "params": model.count_params()}


def markdown_table(results: dict[str, dict]) -> str:
    """Accuracy against training time for every recipe, one row per time mark.

    Each cell is the evaluation made at the end of the first training step past the mark
    (a slow recipe's step can pass several marks: they then show the same model).
    """
    names = list(results)
    header = "| minutes | " + " | ".join(
        f"{n} epochs | {n} acc | {n} top-5" for n in names) + " |"
    lines = [header, "|" + "---:|" * (1 + 3 * len(names))]
    marks = results[names[0]]["records"]
    for i, mark in enumerate(marks):
        cells = []
        for n in names:
            r = results[n]["records"][i]
            cells += [f"{r['epochs']:.1f}", f"{r['accuracy']:.1%}", f"{r['top-5-accuracy']:.1%}"]
        lines.append(f"| {mark['mark'] / 60:.1f} | " + " | ".join(cells) + " |")
    best = []
    for n in names:
        b = results[n]["best"]
        best += ["", f"{b['accuracy']:.1%}", f"{b['top-5-accuracy']:.1%}"]
    lines.append("| best checkpoint | " + " | ".join(best) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0,
                        help="training time per recipe (default 5)")
    parser.add_argument("--evaluations", type=int, default=10,
                        help="test evaluations per recipe, evenly spaced in time (default 10)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's own choice)")
    parser.add_argument("--recipes", default="faithful,improved",
                        help="comma-separated subset of faithful,improved")
    parser.add_argument("--checkpoints", type=Path, default=None,
                        help="folder for the best-weights files (default: a temp folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.recipes.split(",") if n.strip()]
    if not names or set(names) - {"faithful", "improved"}:
        parser.error(f"--recipes must name faithful and/or improved; got {args.recipes!r}")
    if args.minutes <= 0 or args.evaluations < 1:
        parser.error("--minutes must be positive and --evaluations at least 1")

    import torch

    from helpers.data.datasets import load_cifar10, stratified_split

    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = load_cifar10(train_size=9000, test_size=1000, seed=args.seed)
    if dataset.name != "cifar10":
        print(f"warning: no CIFAR-10 available, benchmarking on: {dataset.source}",
              file=sys.stderr)
    n_train = len(dataset.y_train)
    x_train, y_train, x_val, y_val = stratified_split(
        dataset.x_train, dataset.y_train, n_train - n_train // 10, n_train // 10, seed=args.seed)
    data = {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val,
            "x_test": dataset.x_test, "y_test": dataset.y_test,
            "num_classes": dataset.num_classes}
    print(f"data: {dataset.source}; {len(y_train)} train / {len(y_val)} validation / "
          f"{len(dataset.y_test)} test")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} with {torch.get_num_threads()} threads; "
          f"{args.minutes:g} training minutes per recipe", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.checkpoints or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        results = {n: run_recipe(n, data, args.minutes, args.evaluations, folder, args.seed)
                   for n in names}

    print()
    print(f"Test accuracy against training time ({data['num_classes']} classes, "
          f"{len(dataset.y_test)} test images; clock paused during evaluation):")
    print()
    print(markdown_table(results))
    if len(names) == 2:
        gap = results["improved"]["best"]["accuracy"] - results["faithful"]["best"]["accuracy"]
        print(f"\nimproved - faithful (best checkpoints): {gap * 100:+.1f} points "
              f"(target: at least +10); parameters: faithful {results['faithful']['params']:,}, "
              f"improved {results['improved']['params']:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
