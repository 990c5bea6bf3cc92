"""LoRA through ``peft``: a low-rank update beside chosen weight matrices, the rest frozen.

LoRA (Hu et al., 2021) keeps a pretrained ``Linear`` with weight W (d_out x d_in) frozen and
learns a low-rank change of it: W + (alpha / r) · B A, with A (r x d_in) and B (d_out x r).
B starts at zero, so the adapted model is at first exactly the pretrained one, and each adapted
layer trains only r · (d_in + d_out) numbers. After training, B A can be added into W once
(*merging*): the model is then an ordinary ViT again, as fast as before.

timm's ViT computes queries, keys and values with one fused ``Linear(width, 3 · width)`` named
``qkv`` in every block, so ``targets=("qkv",)`` adapts all three at once (Hu et al. adapted
the query and value matrices of separate layers). The new classifier head is trained in full
(``modules_to_save``): it is new, there is nothing to keep.

Everything here is ``peft``'s own API (``LoraConfig``, ``get_peft_model``,
``merge_and_unload``, ``save_pretrained``), checked on peft 0.16 to 0.21.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["add_lora", "lora_layers", "merged_copy", "save_adapter", "load_adapter"]


def add_lora(model: nn.Module, rank: int = 8, alpha: float | None = None,
             targets: Sequence[str] = ("qkv",), dropout: float = 0.0,
             train: Sequence[str] = ("head",), seed: int = 0) -> Any:
    """Wrap ``model`` in a ``peft`` LoRA model: only the adapters and ``train`` modules learn.

    Args:
        model: A timm ViT with its new head (modified in place by peft: the target layers
            are replaced by LoRA layers that hold the original as ``base_layer``).
        rank: r, the rank of the update.
        alpha: Scale numerator (the update is multiplied by alpha / r); None means 2 · r.
        targets: Names of the ``Linear`` layers to adapt (matched as name suffixes).
        dropout: Dropout on the adapters' input.
        train: Modules trained in full beside the adapters (the new head).
        seed: Seed of the adapters' random A matrices (the global random state is kept).

    Returns:
        A ``peft.PeftModel``; call it like the model.
    """
    from peft import LoraConfig, get_peft_model

    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be a positive integer; got {rank!r}.")
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules()
             if isinstance(module, nn.Linear)}
    missing = [t for t in targets if t not in names]
    if missing:
        raise ValueError(f"targets {missing} name no Linear layer of the model; its Linear "
                         f"layers are called {sorted(names)}.")
    config = LoraConfig(r=rank, lora_alpha=2 * rank if alpha is None else alpha,
                        target_modules=list(targets), lora_dropout=dropout, bias="none",
                        modules_to_save=list(train))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_peft_model(model, config)


def lora_layers(model: nn.Module) -> dict[str, tuple[int, int, int]]:
    """Every adapted layer: name -> ``(d_in, d_out, rank)``, read from its A and B matrices."""
    found = {}
    for name, module in model.named_modules():
        lora_a, lora_b = getattr(module, "lora_A", None), getattr(module, "lora_B", None)
        if isinstance(lora_a, nn.ModuleDict) and len(lora_a):
            a = next(iter(lora_a.values())).weight  # (r, d_in)
            b = next(iter(lora_b.values())).weight  # (d_out, r)
            found[name] = (a.shape[1], b.shape[0], a.shape[0])
    return found


def merged_copy(model: Any) -> nn.Module:
    """A plain model with every adapter added into its weight (the PEFT model is untouched).

    Returns:
        The library's own module (a timm ViT) holding W + (alpha / r) · B A in each adapted
        layer and the trained head: it computes what the adapted model computes.
    """
    return copy.deepcopy(model).merge_and_unload()


def save_adapter(model: Any, folder: str | Path) -> Path:
    """Save only what LoRA trained (adapters and head) with peft's ``save_pretrained``.

    Returns:
        The path of the safetensors file (``adapter_model.safetensors``).
    """
    folder = Path(folder)
    model.save_pretrained(str(folder), safe_serialization=True)
    path = folder / "adapter_model.safetensors"
    if not path.is_file():
        raise RuntimeError(f"peft wrote no {path.name} in {folder}.")
    return path


def load_adapter(base: nn.Module, folder: str | Path) -> Any:
    """A PEFT model: ``base`` (with a head of the right size) plus the adapter saved in
    ``folder``, ready for inference."""
    from peft import PeftModel

    folder = Path(folder)
    if not (folder / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no adapter_config.json: save the adapter "
                                "with save_adapter(model, folder) first.")
    return PeftModel.from_pretrained(base, str(folder))
