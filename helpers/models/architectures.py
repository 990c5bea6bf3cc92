"""Size and cost of torchvision's ViT family, computed from the architectures alone.

Models are built on PyTorch's ``meta`` device, which records shapes but allocates no
memory and runs no arithmetic, so even ViT-H/14 (632 M parameters) is described in a
fraction of a second and nothing is downloaded. Latency needs real numbers, so
:func:`measure_latency` materialises the model with random weights (the cost of a
forward pass does not depend on the weights' values).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "TORCHVISION_VITS",
    "ArchitectureRow",
    "describe_torchvision_vit",
    "measure_latency",
    "torchvision_vit_table",
    "markdown_table",
]

TORCHVISION_VITS = ("vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14")


@dataclass
class ArchitectureRow:
    """One row of the architecture table.

    Attributes:
        name: torchvision model name.
        params: Parameter count.
        image_size: Input side in pixels.
        patch_size: Patch side in pixels.
        grid: Patches per side (image_size / patch_size).
        tokens: Sequence length: grid ** 2 patches plus the class token.
        gmacs: Multiply-accumulates per image, counted by ``FlopCounterMode`` (billions).
        listed_gmacs: The cost torchvision lists for its 224-px weights (billions of
            multiply-adds; its docs call them "GFLOPS").
        latency_s: Median CPU seconds per image, or None when not measured.
    """

    name: str
    params: int
    image_size: int
    patch_size: int
    grid: int
    tokens: int
    gmacs: float
    listed_gmacs: float
    latency_s: float | None = None


def _build_meta(name: str) -> nn.Module:
    import torchvision

    with torch.device("meta"):
        return torchvision.models.get_model(name).eval()


def _listed_gmacs(name: str, image_size: int) -> float:
    """torchvision's listed cost for the weights entry trained at ``image_size``."""
    import torchvision

    for weights in torchvision.models.get_model_weights(name):
        if weights.transforms.keywords.get("crop_size") == image_size:
            return float(weights.meta["_ops"])
    return float("nan")


def describe_torchvision_vit(name: str) -> ArchitectureRow:
    """Parameters, token count and compute of one torchvision ViT, without any download.

    Args:
        name: One of :data:`TORCHVISION_VITS`.
    """
    from torch.utils.flop_counter import FlopCounterMode

    if name not in TORCHVISION_VITS:
        raise ValueError(f"name must be one of {', '.join(TORCHVISION_VITS)}; got {name!r}.")
    model = _build_meta(name)
    size, patch = model.image_size, model.patch_size
    x = torch.empty(1, 3, size, size, device="meta")  # (1, 3, H, W)
    with FlopCounterMode(display=False) as counter:
        model(x)
    grid = size // patch
    return ArchitectureRow(
        name=name,
        params=sum(p.numel() for p in model.parameters()),
        image_size=size,
        patch_size=patch,
        grid=grid,
        tokens=grid * grid + 1,
        gmacs=counter.get_total_flops() / 2e9,  # FlopCounterMode counts 2 FLOPs per MAC
        listed_gmacs=_listed_gmacs(name, size),
    )


def measure_latency(name: str, repeats: int = 3, batch_size: int = 1) -> float:
    """Median seconds for one forward pass of a randomly initialised torchvision ViT on CPU.

    Args:
        name: One of :data:`TORCHVISION_VITS`.
        repeats: Timed passes after one warm-up pass.
        batch_size: Images per pass.

    Returns:
        Median seconds per pass.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}.")
    model = _build_meta(name).to_empty(device="cpu")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.02)  # real numbers: uninitialised memory can be slow
    size = model.image_size
    x = torch.randn(batch_size, 3, size, size)  # (B, 3, H, W)
    timings = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def torchvision_vit_table(names: Sequence[str] = TORCHVISION_VITS, max_gmacs_timed: float = 70.0,
                          repeats: int = 3) -> list[ArchitectureRow]:
    """Describe each model and time those cheaper than ``max_gmacs_timed``.

    Args:
        names: Models to describe.
        max_gmacs_timed: Only models at or below this cost get a latency measurement.
        repeats: Timed passes per measured model.
    """
    from tqdm.auto import tqdm

    rows = []
    for name in tqdm(names, desc="architectures"):
        row = describe_torchvision_vit(name)
        if row.gmacs <= max_gmacs_timed:
            row.latency_s = measure_latency(name, repeats=repeats)
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[ArchitectureRow]) -> str:
    """Render rows as a Markdown table."""
    lines = [
        "| model | params (M) | patch | grid | tokens | GMACs (counted) | GMACs (listed) "
        "| CPU s/image |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        latency = f"{r.latency_s:.2f}" if r.latency_s is not None else "not timed"
        lines.append(f"| {r.name} | {r.params / 1e6:.1f} | {r.patch_size} | {r.grid}×{r.grid} "
                     f"| {r.tokens} | {r.gmacs:.1f} | {r.listed_gmacs:.1f} | {latency} |")
    return "\n".join(lines)
