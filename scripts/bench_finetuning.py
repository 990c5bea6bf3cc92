"""Fine-tune the ViT-Tiny stand-in on CIFAR-10 with each method for the same wall-clock budget.

Every method starts from the same pretrained weights (``$VIT_NOTEBOOKS_WEIGHTS``, or the real
ones online) and trains on the same 9,000 CIFAR-10 images; the test split is the same 1,000
held-out images (``load_cifar10(9000, 1000, seed=0)``). Each method gets ``--minutes`` of wall
time for *everything*: its feature passes, probe fitting, training steps (as many as fit, timed
on a copy first) and the final test (flip-averaged with ``--flip``). The recipes are notebook
09's (:class:`helpers.finetune.recipes.Recipe`).

Prints one Markdown row per method: test accuracy, wall minutes, CPU minutes per thread (what
the run would take alone on the machine when the load is high), steps, images seen, trainable
parameters and the load average before and after; writes the rows to ``--results`` (JSON, read
by notebook 09), each row replacing an older row of the same method.

Usage: python scripts/bench_finetuning.py [--minutes 10] [--methods lp-ft,probe,...]
       [--threads 2] [--size 224] [--patch-drop 0.5] [--results docs/results/finetuning.json]
       python scripts/bench_finetuning.py --precision   (float32 against bfloat16 on this CPU)

Methods: probe (linear probe on the last 4 blocks' tokens), head (head only), last-k (the last
4 blocks), lora (rank 8 on qkv), lp-ft (full fine-tuning from the probe's head), full (full
fine-tuning from a random head).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: CLI name -> (notebook method, changes to the default recipe).
METHODS = {
    "probe": ("linear probe", {}),
    "head": ("head only", {}),
    "last-k": ("last k blocks", {}),
    "lora": ("LoRA", {"lr": 1e-3}),
    "lp-ft": ("full", {}),
    "full": ("full", {"lp_images": 0}),
}
DEFAULT_RESULTS = ROOT / "docs" / "results" / "finetuning.json"


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_text(load: tuple[float, float, float]) -> str:
    return "/".join(f"{v:.1f}" for v in load)


def write_results(path: Path, rows: list[dict], machine: dict) -> None:
    """Merge ``rows`` into the JSON file (rows of the same method replaced)."""
    old = json.loads(path.read_text()) if path.is_file() else {"rows": []}
    keep = [r for r in old.get("rows", []) if r["method"] not in {n["method"] for n in rows}]
    order = list(METHODS)
    merged = sorted(keep + rows, key=lambda r: order.index(r["method"])
                    if r["method"] in order else len(order))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": machine, "rows": merged}, indent=1) + "\n")


def precision_table(pretrained, train, size: int, patch_drop: float, repeats: int = 3) -> None:
    """Time a matrix product and one full training step in float32 and under bfloat16 autocast
    (the medians of ``repeats``, after one warm-up each), and print them side by side."""
    import statistics
    import time

    import torch

    from helpers.finetune.data import PixelPipeline
    from helpers.finetune.loop import TrainConfig, fit
    from helpers.finetune.methods import finetuning_copy, prepare
    from helpers.finetune.precision import Precision, cpu_has_native_bf16

    def median_seconds(work) -> float:
        work()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    a, b = torch.randn(64 * 197, 192), torch.randn(192, 768)   # a ViT-Tiny MLP matrix product
    model = prepare(finetuning_copy(pretrained, len(train.classes), size=size,
                                    patch_drop=patch_drop), "full")
    pipeline = PixelPipeline.for_model(model)
    rows = []
    for name, dtype in (("float32", None), ("bfloat16", torch.bfloat16)):
        precision = Precision("cpu", dtype, name)

        def matmul(precision=precision) -> None:
            with precision.autocast():
                a @ b

        def step(precision=precision) -> None:
            fit(model, train, TrainConfig(steps=1), pipeline, precision=precision,
                progress=False)

        rows.append((name, median_seconds(matmul), median_seconds(step)))
        print(f"  {name}: matmul {rows[-1][1] * 1e3:.1f} ms, step {rows[-1][2]:.2f} s, load "
              f"{load_text(os.getloadavg())}", flush=True)
    print(f"\nnative bfloat16 listed in /proc/cpuinfo: {cpu_has_native_bf16()}")
    print("| precision | (12608 x 192) @ (192 x 768) ms | full training step s (64 images, "
          f"{size} px, PatchDropout {patch_drop:g}) |")
    print("|---|---:|---:|")
    for name, mm, st in rows:
        print(f"| {name} | {mm * 1e3:.1f} | {st:.2f} |")
    print(f"bfloat16 speed-up: matmul {rows[0][1] / rows[1][1]:.1f}x, step "
          f"{rows[0][2] / rows[1][2]:.1f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="budget per method")
    parser.add_argument("--methods", default="probe,head,last-k,lora,lp-ft",
                        help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--size", type=int, default=None, help="input side (recipe default)")
    parser.add_argument("--patch-drop", type=float, default=None, help="PatchDropout rate")
    parser.add_argument("--lp-images", type=int, default=None, help="probe images for LP-FT")
    parser.add_argument("--lr", type=float, default=None, help="backbone peak learning rate")
    parser.add_argument("--head-lr", type=float, default=None, help="head peak learning rate")
    parser.add_argument("--batch", type=int, default=None, help="images per step")
    parser.add_argument("--flip", action="store_true", help="flip-averaged test (twice its cost)")
    parser.add_argument("--steps", type=int, default=None,
                        help="train a fixed number of steps instead of filling --minutes "
                             "(for experiments on a loaded machine: compare CPU minutes)")
    parser.add_argument("--float32", action="store_true", help="no bfloat16 autocast")
    parser.add_argument("--train", type=int, default=9000, help="training images")
    parser.add_argument("--precision", action="store_true",
                        help="only compare float32 with bfloat16 (a matmul and a training step)")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                        help="JSON file the rows are merged into ('-' for none)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    unknown = [n for n in names if n not in METHODS]
    if not names or unknown:
        parser.error(f"--methods must name some of {', '.join(METHODS)}; unknown: {unknown}")
    if args.minutes <= 0:
        parser.error("--minutes must be positive")

    import torch

    from helpers.data.datasets import load_cifar10
    from helpers.finetune.data import split_of
    from helpers.finetune.precision import Precision, choose_precision
    from helpers.finetune.recipes import Recipe, run_recipe
    from helpers.models import load

    torch.set_num_threads(args.threads)
    dataset = load_cifar10(train_size=9000, test_size=1000, seed=0)
    if dataset.name != "cifar10":
        print(f"warning: no CIFAR-10 available, benchmarking on: {dataset.source}",
              file=sys.stderr)
    train = split_of(dataset.x_train, dataset.y_train, dataset.classes).subset(args.train)
    test = split_of(dataset.x_test, dataset.y_test, dataset.classes)
    pretrained = load("timm", "vit_tiny_patch16_224.augreg_in21k_ft_in1k", device="cpu")
    precision = (Precision("cpu", None, "--float32") if args.float32
                 else choose_precision("cpu"))
    machine = {"cpu": cpu_name(), "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
               "torch": torch.__version__, "python": platform.python_version()}
    print(f"data: {dataset.source}; {len(train)} train / {len(test)} test")
    print(pretrained.describe())
    print(f"machine: {machine['cpu']}, {machine['cpus']} CPUs, torch {torch.__version__} with "
          f"{machine['threads']} threads; {precision}; {args.minutes:g} minutes per method",
          flush=True)

    if args.precision:
        precision_table(pretrained, train, args.size or 224,
                        0.5 if args.patch_drop is None else args.patch_drop)
        return 0
    changes = {k: v for k, v in {"size": args.size, "patch_drop": args.patch_drop,
                                 "lp_images": args.lp_images, "lr": args.lr,
                                 "head_lr": args.head_lr, "batch_size": args.batch}.items()
               if v is not None}
    if args.flip:
        changes["flip_test"] = True
    rows = []
    for name in names:
        method, own = METHODS[name]
        recipe = Recipe(method, **{**own, **changes})
        before = os.getloadavg()
        print(f"\n{name}: {recipe}", flush=True)
        budget = {"steps": args.steps} if args.steps else {"seconds": args.minutes * 60}
        result = run_recipe(recipe, pretrained, train, test, precision=precision,
                            progress=False, **budget)
        after = os.getloadavg()
        row = {"method": name, "accuracy": result.accuracy, "minutes": result.seconds / 60,
               "cpu_minutes_per_thread": result.cpu_seconds / 60 / machine["threads"],
               "steps": result.history.steps if result.history else 0,
               "images_seen": result.images_seen, "trainable": result.trainable,
               "load_before": list(before), "load_after": list(after),
               "date": datetime.date.today().isoformat(), "precision": str(precision),
               "recipe": {k: v for k, v in vars(recipe).items()}}
        rows.append(row)
        print(f"  {name}: {result.accuracy:.1%} in {row['minutes']:.1f} min "
              f"({row['cpu_minutes_per_thread']:.1f} CPU min per thread), load "
              f"{load_text(before)} -> {load_text(after)}", flush=True)

    budget = f"{args.steps} steps" if args.steps else f"{args.minutes:g} minutes"
    print(f"\nTest accuracy on {len(test)} held-out CIFAR-10 images, {budget} per method "
          f"({machine['cpu']}, {machine['threads']} threads):\n")
    print("| method | test accuracy | wall min | CPU min / thread | steps | images seen | "
          "trainable | load before | load after |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['accuracy']:.1%} | {r['minutes']:.1f} | "
              f"{r['cpu_minutes_per_thread']:.1f} | {r['steps']} | {r['images_seen']:,} | "
              f"{r['trainable']:,} | {load_text(r['load_before'])} | "
              f"{load_text(r['load_after'])} |")
    if str(args.results) != "-":
        write_results(args.results, rows, machine)
        print(f"\nrows written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
