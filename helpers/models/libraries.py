"""Where torchvision, transformers and timm ViTs differ: every per-library switch in one place.

The course loads the same kind of model from three libraries, and each library hides the
attention matrix behind a faster kernel, names its layers its own way and changes both between
releases. These are the lines that break when a library is upgraded, so they live here and
nowhere else; loading (:mod:`helpers.models.loading`), attention capture
(:mod:`helpers.maps.capture`) and embeddings (:mod:`helpers.maps.embeddings`) call them.

- :func:`library_of`: which library a model comes from (unwrapping what
  :func:`helpers.models.load` returns and PEFT adapters).
- :func:`attention_kernel`: the fused (``scaled_dot_product_attention``) kernel on or off, for
  the duration of a ``with`` block; :func:`use_eager_attention` switches it off for good.
  timm: ``Attention.fused_attn``; transformers: the ``"sdpa"`` / ``"eager"`` attention
  implementation; torchvision: nothing to switch (``nn.MultiheadAttention`` is asked for its
  weights per call, see :mod:`helpers.maps.capture`).
- :func:`set_attention_implementation`: transformers' own switch, by name
  (``set_attn_implementation`` from 4.54; the config's setting, read on every call, in 4.53).
- :func:`hf_layers`, :func:`hf_layer_parts`: a Hugging Face ViT's layers and their parts, named
  the same way in transformers 4 and 5.

Example::

    library_of(loaded)                           # "timm"
    with attention_kernel(loaded, fused=True):   # faster, no attention maps
        features = loaded.model.forward_features(pixels)
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator
from typing import Any

from torch import nn

__all__ = [
    "LIBRARIES",
    "unwrap",
    "library_of",
    "hf_top",
    "set_attention_implementation",
    "sdpa_returns_attention_maps",
    "use_eager_attention",
    "attention_kernel",
    "hf_layers",
    "hf_layer_parts",
]

LIBRARIES = ("torchvision", "transformers", "timm")


def unwrap(model: Any) -> nn.Module:
    """The library's own module inside what :func:`helpers.models.load` returned.

    Args:
        model: A ``LoadedModel`` (its ``.model``), a PEFT model (its base model) or a module.

    Raises:
        TypeError: no ``nn.Module`` can be found in ``model``.
    """
    inner = getattr(model, "model", None)
    if not isinstance(model, nn.Module) and isinstance(inner, nn.Module):
        model = inner
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module or what helpers.models.load returned; got "
                        f"{type(model).__name__}.")
    get_base = getattr(model, "get_base_model", None)  # peft.PeftModel wraps the library's model
    if callable(get_base) and type(model).__module__.startswith("peft."):
        model = get_base()
    return model


def library_of(model: Any) -> str:
    """Which library a ViT comes from: ``"torchvision"``, ``"transformers"`` or ``"timm"``.

    Decided by the module that defines the model's class, then checked for the parts this
    course reads (a timm ViT has ``forward_features``, a torchvision one ``_process_input``).

    Args:
        model: A ViT module, a ``LoadedModel`` or a PEFT model wrapping one.

    Raises:
        ValueError: none of the three libraries' ViTs.
    """
    module = unwrap(model)
    defined_in = type(module).__module__
    if defined_in.startswith("transformers."):
        return "transformers"
    if defined_in.startswith("timm.") and hasattr(module, "forward_features"):
        return "timm"
    if defined_in.startswith("torchvision.") and hasattr(module, "_process_input"):
        return "torchvision"
    raise ValueError(f"model must be a torchvision, transformers or timm ViT; got "
                     f"{defined_in}.{type(module).__name__}.")


# --------------------------------------------------------------------------- attention kernels


def hf_top(module: nn.Module) -> nn.Module | None:
    """The outermost Hugging Face ``PreTrainedModel`` in ``module`` (None if there is none)."""
    import sys

    if "transformers" not in sys.modules:  # a Hugging Face model means it was imported
        return None
    from transformers import PreTrainedModel

    return next((sub for sub in module.modules() if isinstance(sub, PreTrainedModel)), None)


def _hf_implementation(model: nn.Module) -> str | None:
    return getattr(getattr(model, "config", None), "_attn_implementation", None)


def set_attention_implementation(model: nn.Module, implementation: str) -> None:
    """Switch a Hugging Face model to ``"eager"`` or ``"sdpa"`` attention.

    ``eager`` computes softmax(q·kᵀ/√d) explicitly, so the model can return its attention
    maps; ``sdpa`` calls PyTorch's fused kernel, which is faster and returns none.

    Args:
        model: A transformers ``PreTrainedModel``.
        implementation: ``"eager"`` or ``"sdpa"``.
    """
    if implementation not in ("eager", "sdpa"):
        raise ValueError(f"implementation must be 'eager' or 'sdpa'; got {implementation!r}.")
    _switch_hf(model, implementation)


def _switch_hf(model: nn.Module, implementation: str) -> None:
    if _hf_implementation(model) == implementation:
        return
    if hasattr(model, "set_attn_implementation"):  # transformers >= 4.54
        model.set_attn_implementation(implementation)
    else:  # 4.53: every attention layer reads the config's setting on each call
        model.config._attn_implementation = implementation


@functools.lru_cache(maxsize=1)
def sdpa_returns_attention_maps() -> bool:
    """Whether a Hugging Face ViT in ``sdpa`` mode still returns attention maps when asked.

    It depends on the transformers version (measured with a tiny ViT, not looked up):
    4.53 and 4.54 quietly fall back to eager attention for that call (with a warning) and
    return the maps; 4.57 returns ``None``; 5.x returns an empty tuple. Asking for eager
    attention (:func:`attention_kernel`, :func:`use_eager_attention`) works in all of them.
    """
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(image_size=8, patch_size=4, hidden_size=8, num_hidden_layers=1,
                       num_attention_heads=2, intermediate_size=8, num_labels=2)
    model = ViTForImageClassification(config).eval()
    _switch_hf(model, "sdpa")
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        attentions = model(pixel_values=torch.zeros(1, 3, 8, 8), output_attentions=True).attentions
    return bool(attentions) and all(a is not None for a in attentions)


def _timm_attention_modules(module: nn.Module) -> list[nn.Module]:
    return [sub for sub in module.modules() if hasattr(sub, "fused_attn")]


def use_eager_attention(model: Any) -> nn.Module:
    """Switch a model's attention to the explicit softmax path for good, so hooks can read it.

    timm: ``fused_attn = False`` on every attention block; transformers: ``"eager"``;
    torchvision: unchanged (its weights are requested per call).

    Returns:
        The same module, switched.
    """
    module = unwrap(model)
    for sub in _timm_attention_modules(module):
        sub.fused_attn = False
    top = hf_top(module)
    if top is not None:
        set_attention_implementation(top, "eager")
    return module


@contextlib.contextmanager
def attention_kernel(model: Any, *, fused: bool) -> Iterator[nn.Module]:
    """Temporarily switch a model's attention to the fused kernel (``fused=True``) or to the
    explicit softmax path (``fused=False``), and restore every setting on exit, also when the
    ``with`` block raises.

    Fused attention is faster and gives the same outputs to about 1e-6, but never forms the
    attention matrix; capturing attention needs the explicit path.

    Args:
        model: A torchvision, transformers or timm ViT (or what ``load`` returned).
        fused: Which path to use inside the block.

    Yields:
        The library's module.
    """
    module = unwrap(model)
    timm_blocks = _timm_attention_modules(module)
    saved = [sub.fused_attn for sub in timm_blocks]
    top = hf_top(module)
    saved_hf = _hf_implementation(top) if top is not None else None
    try:
        for sub in timm_blocks:
            sub.fused_attn = fused
        if top is not None and saved_hf is not None:
            set_attention_implementation(top, "sdpa" if fused else "eager")
        yield module
    finally:
        for sub, value in zip(timm_blocks, saved, strict=True):
            sub.fused_attn = value
        if top is not None and saved_hf is not None:
            _switch_hf(top, saved_hf)


# --------------------------------------------------------------------------- transformers layout


def hf_layers(model: nn.Module) -> nn.ModuleList:
    """The encoder layers of a Hugging Face ViT (``ViTModel`` or a model wrapping one)."""
    vit = getattr(model, "vit", model)
    if hasattr(vit, "layers"):  # transformers 5
        return vit.layers
    return vit.encoder.layer  # transformers 4


def hf_layer_parts(layer: nn.Module) -> dict[str, nn.Module]:
    """Name the parts of one Hugging Face ViT layer the same way for transformers 4 and 5.

    Returns:
        ``q``, ``k``, ``v``, ``o`` (Linear D -> D), ``norm1``, ``norm2`` (LayerNorm),
        ``fc1`` (Linear D -> mlp_dim), ``fc2`` (Linear mlp_dim -> D).
    """
    attention = layer.attention
    if hasattr(attention, "q_proj"):  # transformers 5
        q, k, v, o = attention.q_proj, attention.k_proj, attention.v_proj, attention.o_proj
        fc1, fc2 = layer.mlp.fc1, layer.mlp.fc2
    else:  # transformers 4
        inner = attention.attention
        q, k, v, o = inner.query, inner.key, inner.value, attention.output.dense
        fc1, fc2 = layer.intermediate.dense, layer.output.dense
    return {"q": q, "k": k, "v": v, "o": o, "norm1": layer.layernorm_before,
            "norm2": layer.layernorm_after, "fc1": fc1, "fc2": fc2}
