"""Capture every layer's attention probabilities from a torchvision, transformers or timm ViT.

Each library hides the attention matrix behind a faster code path that never builds it:

- **torchvision**: ``EncoderBlock`` calls ``nn.MultiheadAttention(..., need_weights=False)``.
  A forward pre-hook asks for ``need_weights=True, average_attn_weights=False``; the forward
  hook reads ``output[1]`` and hands the caller back what it asked for.
- **transformers 5**: ``sdpa`` attention returns no weights. The model is switched to
  ``eager`` attention; a forward hook on each attention module (the class the model declares
  in ``_can_record_outputs["attentions"]``) reads the weights it returns. (transformers 4:
  ``output_attentions=True`` is forced on each ``...SelfAttention`` module instead.)
- **timm**: ``fused_attn=True`` calls ``scaled_dot_product_attention``. Every attention block
  gets ``fused_attn=False``; a hook on its ``attn_drop`` reads its input, the softmax output.

The kernel switches themselves live in :mod:`helpers.models.libraries`. Everything is undone
on exit, also when the ``with`` block raises. A layer that runs but yields
no probabilities raises ``RuntimeError`` instead of silently capturing nothing.

The outputs do not change: bit for bit for what :func:`helpers.models.load` returns from timm
and transformers (already unfused / eager), and up to float32 rounding (~1e-6) where a fused
kernel is swapped for the explicit softmax (torchvision's ``nn.MultiheadAttention``, a fused
timm model, a transformers model in ``sdpa`` mode).

Example::

    with capture_attention(loaded) as attentions:
        logits = loaded.logits(pixels)          # (B, classes)
    len(attentions)                             # depth
    attentions[0].shape                         # (B, heads, tokens, tokens)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn

from helpers.models.libraries import attention_kernel, hf_top, unwrap

__all__ = ["capture_attention"]


@contextmanager
def capture_attention(model: Any, *, detach: bool = True) -> Iterator[list[torch.Tensor]]:
    """Collect the attention probabilities of every layer during the forward passes inside.

    Args:
        model: What :func:`helpers.models.load` returned, or the library's own module:
            a torchvision ``VisionTransformer``, a Hugging Face ViT (any attention
            implementation) or a timm ViT (fused or not).
        detach: Store detached tensors (default). Pass ``False`` to keep them in the
            autograd graph, e.g. to take gradients with respect to them.

    Yields:
        A list that fills during each forward pass with one tensor per layer, in the order the
        layers run, each of shape (B, heads, N, N): row ``i`` holds how token ``i`` (the query)
        distributes its attention over the N tokens (the keys); every row sums to 1.
        Two forward passes inside one ``with`` give 2 x depth entries.

    Raises:
        TypeError: ``model`` is not an ``nn.Module`` (nor has one in ``.model``).
        ValueError: no attention layer of a supported library was found in the model.
        RuntimeError: (during the forward pass) a layer ran without producing probabilities.
    """
    module = unwrap(model)
    maps: list[torch.Tensor] = []

    def record(weights: torch.Tensor | None, where: str) -> None:
        if weights is None or not isinstance(weights, torch.Tensor) or weights.ndim != 4:
            got = None if weights is None else getattr(weights, "shape", type(weights).__name__)
            raise RuntimeError(
                f"capture_attention: {where} ran but produced no attention probabilities of "
                f"shape (B, heads, N, N) (got {got}). Its fused/SDPA attention path cannot be "
                "captured; load the model with eager (unfused) attention.")
        maps.append(weights.detach() if detach else weights)

    with ExitStack() as stack:
        stack.enter_context(attention_kernel(module, fused=False))  # the explicit softmax path
        found = (_attach_torchvision(module, record, stack)
                 + _attach_timm(module, record, maps, stack)
                 + _attach_transformers(module, record, stack))
        if found == 0:
            raise ValueError(
                f"capture_attention found no attention layer in {type(module).__name__}. It "
                "supports torchvision VisionTransformer (nn.MultiheadAttention), timm ViTs "
                "(blocks with .attn.fused_attn) and Hugging Face ViTs.")
        yield maps


# --------------------------------------------------------------------------- shared helpers


Record = Callable[[torch.Tensor | None, str], None]


def _kwarg_rewriter(module: nn.Module, forced: dict[str, Any], pending: list[dict[str, Any]]
                    ) -> Callable:
    """A forward pre-hook (with_kwargs) that forces ``forced`` arguments and remembers the
    caller's own values (defaults included) on ``pending``."""
    signature = inspect.signature(module.forward)

    def pre_hook(_module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        pending.append({name: bound.arguments[name] for name in forced})
        bound.arguments.update(forced)
        return tuple(bound.args), dict(bound.kwargs)

    return pre_hook


# --------------------------------------------------------------------------- torchvision


def _attach_torchvision(module: nn.Module, record: Record, stack: ExitStack) -> int:
    """Hook every nn.MultiheadAttention (torchvision's EncoderBlock uses one per block)."""
    count = 0
    for name, sub in module.named_modules():
        if not isinstance(sub, nn.MultiheadAttention):
            continue
        pending: list[dict[str, Any]] = []
        forced = {"need_weights": True, "average_attn_weights": False}

        def post_hook(_module: nn.Module, _args: tuple, output: tuple, *, where: str = name,
                      pending: list = pending) -> tuple:
            asked = pending.pop()
            attn_output, weights = output  # (B, N, D) with batch_first, (B, heads, N, N)
            record(weights, where)
            if not asked["need_weights"]:
                return attn_output, None  # what the caller asked for
            if asked["average_attn_weights"]:
                return attn_output, weights.mean(dim=1)  # (B, N, N)
            return attn_output, weights

        stack.callback(sub.register_forward_pre_hook(
            _kwarg_rewriter(sub, forced, pending), with_kwargs=True).remove)
        stack.callback(sub.register_forward_hook(post_hook).remove)
        count += 1
    return count


# --------------------------------------------------------------------------- timm


def _is_timm_attention(module: nn.Module) -> bool:
    return (hasattr(module, "fused_attn") and isinstance(getattr(module, "attn_drop", None),
                                                         nn.Module)
            and hasattr(module, "num_heads"))


def _attach_timm(module: nn.Module, record: Record, maps: list, stack: ExitStack) -> int:
    """Unfuse every timm attention block and read the softmax output at its ``attn_drop``."""
    count = 0
    for name, sub in module.named_modules():
        if not _is_timm_attention(sub):
            continue
        seen_before: list[int] = []

        def drop_hook(_module: nn.Module, inputs: tuple, _output: torch.Tensor, *,
                      where: str = name) -> None:
            record(inputs[0], where)  # the probabilities before dropout: (B, heads, N, N)

        def attn_pre(_module: nn.Module, _args: tuple, seen_before: list = seen_before) -> None:
            seen_before.append(len(maps))

        def attn_post(_module: nn.Module, _args: tuple, _output: torch.Tensor, *,
                      where: str = name, seen_before: list = seen_before) -> None:
            if len(maps) == seen_before.pop():  # the block took a path that skipped attn_drop
                record(None, where)

        stack.callback(sub.attn_drop.register_forward_hook(drop_hook).remove)
        stack.callback(sub.register_forward_pre_hook(attn_pre).remove)
        stack.callback(sub.register_forward_hook(attn_post).remove)
        count += 1
    return count


# --------------------------------------------------------------------------- transformers


def _transformers_attention(module: nn.Module
                            ) -> tuple[list[tuple[str, nn.Module]], int | None]:
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


def _attach_transformers(module: nn.Module, record: Record, stack: ExitStack) -> int:
    found, index = _transformers_attention(module)
    if not found:
        return 0
    for name, sub in found:
        if index is not None:
            def post_hook(_module: nn.Module, _args: tuple, output: tuple, *, where: str = name,
                          index: int = index) -> None:
                weights = output[index] if isinstance(output, tuple) and len(output) > index \
                    else None
                record(weights, where)  # (B, heads, N, N)

            stack.callback(sub.register_forward_hook(post_hook).remove)
            continue
        pending: list[dict[str, Any]] = []

        def post_hook_v4(_module: nn.Module, _args: tuple, output: tuple, *, where: str = name,
                         pending: list = pending) -> tuple:
            asked = pending.pop()
            record(output[1] if len(output) > 1 else None, where)  # (B, heads, N, N)
            return output if asked["output_attentions"] else output[:1]

        stack.callback(sub.register_forward_pre_hook(
            _kwarg_rewriter(sub, {"output_attentions": True}, pending), with_kwargs=True).remove)
        stack.callback(sub.register_forward_hook(post_hook_v4).remove)
    return len(found)
