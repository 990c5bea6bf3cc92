"""Hugging Face transformers' ViT (``ViTModel``, ``ViTForImageClassification``): its adapter,
and the transformers version quirks (4.53, 4.54, 4.57, 5.x) in one place.

- attention kernel: the ``"sdpa"`` / ``"eager"`` attention implementation
  (:func:`set_attention_implementation`: ``set_attn_implementation`` from 4.54, the config's
  setting, read on every call, in 4.53). What ``output_attentions=True`` gives under sdpa
  changed three times (:func:`sdpa_returns_attention_maps`);
- capture, transformers 5: in eager mode a forward hook on each attention module (the class
  the model declares in ``_can_record_outputs["attentions"]``) reads the weights it returns;
  transformers 4: ``output_attentions=True`` is forced on each ``...SelfAttention`` module;
- layout: :func:`hf_layers` and :func:`hf_layer_parts` name the layers and their parts the
  same way in transformers 4 and 5.

Example::

    set_attention_implementation(model, "eager")   # maps can be returned and captured
    parts = hf_layer_parts(hf_layers(model)[0])    # q, k, v, o, norm1, norm2, fc1, fc2
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from helpers.models.libraries.base import LibraryAdapter, Record, kwarg_rewriter

__all__ = [
    "TransformersAdapter",
    "TRANSFORMERS",
    "hf_top",
    "set_attention_implementation",
    "sdpa_returns_attention_maps",
    "hf_layers",
    "hf_layer_parts",
]


def hf_top(module: nn.Module) -> nn.Module | None:
    """The outermost Hugging Face ``PreTrainedModel`` in ``module`` (None if there is none)."""
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
    attention (:func:`helpers.models.libraries.attention_kernel`,
    :func:`helpers.models.libraries.use_eager_attention`) works in all of them.
    """
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(image_size=8, patch_size=4, hidden_size=8, num_hidden_layers=1,
                       num_attention_heads=2, intermediate_size=8, num_labels=2)
    model = ViTForImageClassification(config).eval()
    _switch_hf(model, "sdpa")
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        attentions = model(pixel_values=torch.zeros(1, 3, 8, 8), output_attentions=True).attentions
    return bool(attentions) and all(a is not None for a in attentions)


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


def _attention_modules(module: nn.Module) -> tuple[list[tuple[str, nn.Module]], int | None]:
    """The attention modules of a Hugging Face model and where their weights are returned.

    Returns:
        (name, module) pairs; the output index holding the weights (None for the
        transformers 4 layout, which needs ``output_attentions=True``).
    """
    top = hf_top(module)
    if top is None:
        return [], None
    spec = getattr(type(top), "_can_record_outputs", None) or {}
    spec = spec.get("attentions")
    if spec is not None:  # transformers 5: the model names its attention class itself
        target = getattr(spec, "target_class", spec)
        index = int(getattr(spec, "index", 1) or 1)
        found = [(n, s) for n, s in module.named_modules()
                 if isinstance(target, type) and isinstance(s, target)]
        return found, index
    # transformers 4: XxxSelfAttention(hidden_states, head_mask, output_attentions)
    found = [(n, s) for n, s in module.named_modules()
             if type(s).__name__.endswith("SelfAttention")
             and "output_attentions" in inspect.signature(s.forward).parameters]
    return found, None


class TransformersAdapter(LibraryAdapter):
    """Hugging Face ViTs (see the module docstring)."""

    name = "transformers"

    def owns(self, module: nn.Module) -> bool:
        return type(module).__module__.startswith("transformers.")

    @contextlib.contextmanager
    def kernel(self, module: nn.Module, *, fused: bool) -> Iterator[None]:
        top = hf_top(module)
        saved = _hf_implementation(top) if top is not None else None
        try:
            if saved is not None:
                set_attention_implementation(top, "sdpa" if fused else "eager")
            yield
        finally:
            if saved is not None:
                _switch_hf(top, saved)

    def use_eager(self, module: nn.Module) -> None:
        top = hf_top(module)
        if top is not None:
            set_attention_implementation(top, "eager")

    def attach_capture(self, module: nn.Module, record: Record, maps: list,
                       stack: ExitStack) -> int:
        found, index = _attention_modules(module)
        for name, sub in found:
            if index is not None:
                def post_hook(_module: nn.Module, _args: tuple, output: tuple, *,
                              where: str = name, index: int = index) -> None:
                    weights = output[index] if isinstance(output, tuple) and len(output) > index \
                        else None
                    record(weights, where)  # (B, heads, N, N)

                stack.callback(sub.register_forward_hook(post_hook).remove)
                continue
            pending: list[dict[str, Any]] = []

            def post_hook_v4(_module: nn.Module, _args: tuple, output: tuple, *,
                             where: str = name, pending: list = pending) -> tuple:
                asked = pending.pop()
                record(output[1] if len(output) > 1 else None, where)  # (B, heads, N, N)
                return output if asked["output_attentions"] else output[:1]

            stack.callback(sub.register_forward_pre_hook(
                kwarg_rewriter(sub, {"output_attentions": True}, pending),
                with_kwargs=True).remove)
            stack.callback(sub.register_forward_hook(post_hook_v4).remove)
        return len(found)

    def blocks(self, module: nn.Module) -> list[nn.Module]:
        top = hf_top(module) or module
        return list(hf_layers(getattr(top, "vit", top)))

    def classifier_parts(self, module: nn.Module
                         ) -> tuple[nn.Module | None, list[nn.Module | None], list[nn.Module]]:
        top = hf_top(module) or module
        vit = getattr(top, "vit", top)
        return (getattr(top, "classifier", None), [getattr(vit, "layernorm", None)],
                list(hf_layers(vit)))

    def patch_size(self, module: nn.Module) -> int:
        size = module.config.patch_size
        return int(size[0] if isinstance(size, tuple | list) else size)

    def token_states(self, module: nn.Module, pixel_values: torch.Tensor
                     ) -> tuple[torch.Tensor, int, torch.Tensor | None]:
        base = getattr(module, "base_model", module)  # ViTForImageClassification -> ViTModel
        output = base(pixel_values=pixel_values)
        states = output.last_hidden_state  # (B, T, D)
        num_patches = base.embeddings.patch_embeddings.num_patches
        pooler = getattr(output, "pooler_output", None)  # (B, D) or None
        return states, int(states.shape[1] - num_patches), pooler

    def token_site(self, module: nn.Module) -> tuple[nn.Module, int] | None:
        top = hf_top(module)
        embeddings = getattr(getattr(top, "vit", top), "embeddings", None)
        if embeddings is not None and hasattr(embeddings, "dropout"):
            return embeddings.dropout, 1
        return None

    def vit_parts(self, module: nn.Module) -> Any:
        from helpers.models.parts import BlockParts, Linear, Norm, ViTParts

        vit = getattr(module, "vit", module)
        heads = int(vit.config.num_attention_heads)
        if vit.config.hidden_act != "gelu":
            raise ValueError(f"this Hugging Face ViT uses hidden_act={vit.config.hidden_act!r}; "
                             "the by-hand code follows the exact GELU ('gelu').")
        blocks = []
        for layer in hf_layers(module):
            p = hf_layer_parts(layer)
            blocks.append(BlockParts(Norm.of(p["norm1"]), Linear.of(p["q"]), Linear.of(p["k"]),
                                     Linear.of(p["v"]), Linear.of(p["o"]), Norm.of(p["norm2"]),
                                     Linear.of(p["fc1"]), Linear.of(p["fc2"]), heads))
        emb = vit.embeddings
        head = getattr(module, "classifier", None)
        head = Linear.of(head) if isinstance(head, nn.Linear) else None
        return ViTParts(self.name, emb.patch_embeddings.projection.weight,
                        emb.patch_embeddings.projection.bias, emb.cls_token,
                        emb.position_embeddings, blocks, Norm.of(vit.layernorm), head)


#: The one transformers adapter.
TRANSFORMERS = TransformersAdapter()
