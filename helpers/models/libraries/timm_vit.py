"""timm's ViT (``timm.models.vision_transformer.VisionTransformer``): its adapter.

- attention kernel: ``Attention.fused_attn`` on every attention block (``True`` calls
  ``scaled_dot_product_attention``, which never forms the attention matrix);
- capture: with ``fused_attn=False`` the softmax output passes through ``attn_drop``, whose
  input a hook reads;
- layout: ``blocks``, ``norm`` / ``fc_norm``, ``head``, ``patch_embed``, ``patch_drop`` (the
  place right after the position embeddings).

The course's head ablation, Grad-CAM and fine-tuning are written for this class only;
:func:`require_timm` says so in one place.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import torch
from torch import nn

from helpers.models.libraries.base import LibraryAdapter, Record, unwrap

__all__ = ["TimmAdapter", "TIMM", "require_timm"]


class TimmAdapter(LibraryAdapter):
    """timm ViTs (see the module docstring)."""

    name = "timm"

    def owns(self, module: nn.Module) -> bool:
        return type(module).__module__.startswith("timm.") and hasattr(module, "forward_features")

    def is_attention_block(self, module: nn.Module) -> bool:
        return (hasattr(module, "fused_attn") and isinstance(getattr(module, "attn_drop", None),
                                                             nn.Module)
                and hasattr(module, "num_heads"))

    @contextlib.contextmanager
    def kernel(self, module: nn.Module, *, fused: bool) -> Iterator[None]:
        blocks = [sub for _, sub in self.attention_blocks(module)]
        saved = [sub.fused_attn for sub in blocks]
        try:
            for sub in blocks:
                sub.fused_attn = fused
            yield
        finally:
            for sub, value in zip(blocks, saved, strict=True):
                sub.fused_attn = value

    def use_eager(self, module: nn.Module) -> None:
        for _, sub in self.attention_blocks(module):
            sub.fused_attn = False

    def attach_capture(self, module: nn.Module, record: Record, maps: list,
                       stack: ExitStack) -> int:
        """Read the softmax output at each unfused attention block's ``attn_drop``."""
        count = 0
        for name, sub in self.attention_blocks(module):
            seen_before: list[int] = []

            def drop_hook(_module: nn.Module, inputs: tuple, _output: torch.Tensor, *,
                          where: str = name) -> None:
                record(inputs[0], where)  # the probabilities before dropout: (B, heads, N, N)

            def attn_pre(_module: nn.Module, _args: tuple, seen_before: list = seen_before
                         ) -> None:
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

    def blocks(self, module: nn.Module) -> list[nn.Module]:
        return list(module.blocks)

    def classifier_parts(self, module: nn.Module
                         ) -> tuple[nn.Module | None, list[nn.Module | None], list[nn.Module]]:
        heads = [m for m in (module.head, getattr(module, "attn_pool", None))
                 if m is not None and any(True for _ in m.parameters())]
        return (nn.ModuleList(heads), [module.norm, getattr(module, "fc_norm", None)],
                list(module.blocks))

    def patch_size(self, module: nn.Module) -> int:
        size = module.patch_embed.patch_size
        return int(size[0] if isinstance(size, tuple | list) else size)

    def token_states(self, module: nn.Module, pixel_values: torch.Tensor
                     ) -> tuple[torch.Tensor, int, torch.Tensor | None]:
        states = module.forward_features(pixel_values)  # (B, T, D)
        return states, int(getattr(module, "num_prefix_tokens", 1)), None

    def token_site(self, module: nn.Module) -> tuple[nn.Module, int] | None:
        if not (hasattr(module, "_pos_embed") and hasattr(module, "patch_drop")):
            return None
        if getattr(module, "global_pool", "token") != "token":
            raise ValueError(f"token removal needs a timm ViT that classifies from its class "
                             f"token; this one pools the patch tokens (global_pool="
                             f"{module.global_pool!r}), which are all gone at the end of a "
                             "deletion curve. Use a fill (blur, mean, grey) instead.")
        return module.patch_drop, int(module.num_prefix_tokens)

    def vit_parts(self, module: nn.Module) -> Any:
        from helpers.models.parts import BlockParts, Linear, Norm, ViTParts, split_qkv

        vit = module
        problems = []
        if getattr(vit, "cls_token", None) is None:
            problems.append("no class token")
        if getattr(vit, "num_reg_tokens", 0):
            problems.append("register tokens")
        if getattr(vit, "no_embed_class", False):
            problems.append("position embeddings without the class token")
        if not isinstance(getattr(vit, "norm_pre", nn.Identity()), nn.Identity):
            problems.append("a pre-norm before the blocks")
        if getattr(vit, "global_pool", "token") not in ("token", ""):
            problems.append(f"global_pool={vit.global_pool!r}")
        if not isinstance(getattr(vit, "fc_norm", nn.Identity()), nn.Identity):
            problems.append("fc_norm")
        block = vit.blocks[0]
        for part in ("ls1", "ls2"):
            if not isinstance(getattr(block, part, nn.Identity()), nn.Identity):
                problems.append("layer scale")
                break
        if not isinstance(getattr(block.attn, "q_norm", nn.Identity()), nn.Identity):
            problems.append("qk-norm")
        if problems:
            raise ValueError(f"this timm ViT has {', '.join(sorted(set(problems)))}; the by-hand "
                             "code follows the plain class-token ViT (e.g. vit_tiny_patch16_224).")
        blocks = []
        for blk in vit.blocks:
            q, k, v = split_qkv(blk.attn.qkv.weight, blk.attn.qkv.bias)
            blocks.append(BlockParts(Norm.of(blk.norm1), q, k, v, Linear.of(blk.attn.proj),
                                     Norm.of(blk.norm2), Linear.of(blk.mlp.fc1),
                                     Linear.of(blk.mlp.fc2), int(blk.attn.num_heads)))
        head = vit.head if isinstance(vit.head, nn.Linear) else None
        proj = vit.patch_embed.proj
        return ViTParts(self.name, proj.weight, proj.bias, vit.cls_token, vit.pos_embed, blocks,
                        Norm.of(vit.norm), None if head is None else Linear.of(head))


#: The one timm adapter.
TIMM = TimmAdapter()


def require_timm(model: Any, needs: str) -> nn.Module:
    """The timm ViT inside ``model``, or a ValueError for a model of another library.

    Args:
        model: What :func:`helpers.models.load` returned, a PEFT model or a module.
        needs: The error message; ``{library}`` is replaced by the model's library.

    Raises:
        ValueError: ``model`` is another library's ViT (or none of the three).
    """
    from helpers.models.libraries.choice import adapter_for

    module = unwrap(model)
    adapter = adapter_for(module)
    if not isinstance(adapter, TimmAdapter):
        raise ValueError(needs.format(library=adapter.name))
    return module
