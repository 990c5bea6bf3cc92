"""torchvision's ViT (``torchvision.models.VisionTransformer``): its adapter.

- attention kernel: nothing to switch. ``EncoderBlock`` calls ``nn.MultiheadAttention`` with
  ``need_weights=False``; capture asks each call for its weights instead: a forward pre-hook
  forces ``need_weights=True, average_attn_weights=False`` and the forward hook reads
  ``output[1]``, then hands the caller back what it asked for;
- layout: ``encoder.layers`` (``ln_1``, ``self_attention``, ``ln_2``, ``mlp``),
  ``encoder.ln``, ``heads.head``, ``conv_proj``, ``encoder.dropout`` (the place right after
  the position embeddings).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from helpers.models.libraries.base import LibraryAdapter, Record, kwarg_rewriter

__all__ = ["TorchvisionAdapter", "TORCHVISION"]


class TorchvisionAdapter(LibraryAdapter):
    """torchvision ViTs (see the module docstring)."""

    name = "torchvision"

    def owns(self, module: nn.Module) -> bool:
        return (type(module).__module__.startswith("torchvision.")
                and hasattr(module, "_process_input"))

    def is_attention_block(self, module: nn.Module) -> bool:
        return isinstance(module, nn.MultiheadAttention)

    def attach_capture(self, module: nn.Module, record: Record, maps: list,
                       stack: ExitStack) -> int:
        """Hook every nn.MultiheadAttention (torchvision's EncoderBlock uses one per block)."""
        count = 0
        for name, sub in self.attention_blocks(module):
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
                kwarg_rewriter(sub, forced, pending), with_kwargs=True).remove)
            stack.callback(sub.register_forward_hook(post_hook).remove)
            count += 1
        return count

    def blocks(self, module: nn.Module) -> list[nn.Module]:
        return list(module.encoder.layers)

    def classifier_parts(self, module: nn.Module
                         ) -> tuple[nn.Module | None, list[nn.Module | None], list[nn.Module]]:
        return module.heads, [module.encoder.ln], list(module.encoder.layers)

    def patch_size(self, module: nn.Module) -> int:
        size = module.patch_size
        return int(size[0] if isinstance(size, tuple | list) else size)

    def token_states(self, module: nn.Module, pixel_values: torch.Tensor
                     ) -> tuple[torch.Tensor, int, torch.Tensor | None]:
        x = module._process_input(pixel_values)  # (B, N, D) patch embeddings
        cls = module.class_token.expand(x.shape[0], -1, -1)  # (B, 1, D)
        states = module.encoder(torch.cat([cls, x], dim=1))  # (B, 1 + N, D), ends with encoder.ln
        return states, 1, None

    def token_site(self, module: nn.Module) -> tuple[nn.Module, int] | None:
        if hasattr(getattr(module, "encoder", None), "dropout"):
            return module.encoder.dropout, 1
        return None

    def vit_parts(self, module: nn.Module) -> Any:
        from helpers.models.parts import BlockParts, Linear, Norm, ViTParts, split_qkv

        tv = module
        if hasattr(tv.heads, "pre_logits"):
            raise ValueError("this torchvision ViT has a pre-logits layer (representation_size); "
                             "the by-hand code follows the plain classifier head.")
        blocks = []
        for layer in tv.encoder.layers:
            attn = layer.self_attention
            q, k, v = split_qkv(attn.in_proj_weight, attn.in_proj_bias)
            blocks.append(BlockParts(Norm.of(layer.ln_1), q, k, v, Linear.of(attn.out_proj),
                                     Norm.of(layer.ln_2), Linear.of(layer.mlp[0]),
                                     Linear.of(layer.mlp[3]), int(attn.num_heads)))
        return ViTParts(self.name, tv.conv_proj.weight, tv.conv_proj.bias, tv.class_token,
                        tv.encoder.pos_embedding, blocks, Norm.of(tv.encoder.ln),
                        Linear.of(tv.heads.head))


#: The one torchvision adapter.
TORCHVISION = TorchvisionAdapter()
