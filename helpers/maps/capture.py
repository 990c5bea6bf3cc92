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

The kernel switches and the hooks themselves live in each library's adapter
(:mod:`helpers.models.libraries`). Everything is undone
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

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

from helpers.models.libraries import adapters_in, attention_kernel, unwrap

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
        found = sum(adapter.attach_capture(module, record, maps, stack)
                    for adapter in adapters_in(model))
        if found == 0:
            raise ValueError(
                f"capture_attention found no attention layer in {type(module).__name__}. It "
                "supports torchvision VisionTransformer (nn.MultiheadAttention), timm ViTs "
                "(blocks with .attn.fused_attn) and Hugging Face ViTs.")
        yield maps
