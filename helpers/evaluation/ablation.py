"""A causal test of explanations: switch attention heads off and watch the class score.

Every head's output is a slice of the concatenated head outputs that enter each block's
``attn.proj``. Put a **gate** g on a head (multiply its slice by g): g = 1 is the model,
g = 0 switches the head off. :func:`head_gates` does this per image with a forward pre-hook on
``attn.proj`` (timm ViTs); the hooks are removed on exit, also after an error.

**What a gradient method predicts about heads.** Gradient rollout and Chefer's relevance weigh
each attention entry by A ⊙ ∇A, where ∇A is the gradient of the class logit with respect to
the attention. Summed over a head's entries, the *signed* Σ A ⊙ ∇A is exactly the gradient of
the logit with respect to that head's gate at g = 1 (Michel et al., 2019, *Are Sixteen Heads
Really Better than One?*): the head's output is o = A V, so Σ_ij A_ij ∂s/∂A_ij =
Σ_id o_id ∂s/∂o_id = ∂s/∂g. It is the first-order (Taylor) estimate of what switching the
head off does: the logit moves by about -∂s/∂g. :func:`head_importance` computes it from
attention and gradients, :func:`gate_gradients` by differentiating the gates themselves.

**Switched off to what?** A zero output is something the next layer never saw in training
(the same trap as filling a removed patch with grey), so :func:`head_means` gives each head's
mean output over a set of images, and ``means=`` replaces a head by it instead (mean
ablation). :func:`ablation_scores` runs every image with every head set in batches and
returns the class logit and probability; :func:`random_heads_like` draws random heads with
as many per layer as a chosen set (late heads and early heads differ in effect).

Example::

    attentions, gradients, _ = own_class_gradients(loaded, pixels, classes)
    ranked = top_heads(head_importance(attentions, gradients), k=6)   # (B, L, heads)
    sets = torch.stack([ranked, random_heads_like(ranked)], dim=1)    # (B, 2, L, heads)
    scores = ablation_scores(loaded, pixels, classes, sets)           # .logits: (B, 2)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from helpers.models.libraries import attention_kernel, logits_of, require_timm, unwrap

__all__ = ["attention_blocks", "head_gates", "ablate_heads", "head_means", "head_importance",
           "gate_gradients", "top_heads", "random_heads", "random_heads_like",
           "AblationScores", "ablation_scores"]


def attention_blocks(loaded: Any) -> list[nn.Module]:
    """The attention module of every block of a timm ViT, first block first.

    Raises:
        ValueError: the model is not a timm ViT whose attention ends in ``proj`` with no
            norm or gate in between (what head ablation needs).
    """
    needs = ("head ablation is written for timm's VisionTransformer; got a {library} model. "
             "Load one with load('timm').")
    module = require_timm(loaded, needs)
    if not hasattr(module, "blocks"):
        raise ValueError(needs.format(library="timm"))
    found = [block.attn for block in module.blocks]
    for index, attn in enumerate(found):
        plain = isinstance(getattr(attn, "proj", None), nn.Linear) and isinstance(
            getattr(attn, "norm", nn.Identity()), nn.Identity) and getattr(
            attn, "gate", None) is None and hasattr(attn, "num_heads")
        if not plain:
            raise ValueError(f"blocks[{index}].attn has a norm or gate before its output "
                             "projection (or no proj); head ablation supports the plain "
                             "ViT attention only.")
    return found


def _check_pixels_classes(pixels: Any, classes: Any) -> torch.Tensor:
    if not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 or pixels.shape[1] != 3:
        raise ValueError("pixels must have shape (B, 3, H, W); use loaded.batch(images).")
    target = torch.as_tensor(classes).reshape(-1).long()
    if target.numel() != len(pixels):
        raise ValueError(f"classes must give one class per image ({len(pixels)}); got "
                         f"{target.numel()}.")
    return target


def _logits(output: Any, target: torch.Tensor) -> torch.Tensor:
    logits = logits_of(output)  # (n, classes)
    if int(target.max()) >= logits.shape[-1] or int(target.min()) < 0:
        raise ValueError(f"classes must lie in [0, {logits.shape[-1]}).")
    return logits


@contextmanager
def head_gates(loaded: Any, gates: torch.Tensor, means: torch.Tensor | None = None
               ) -> Iterator[None]:
    """Scale each head's output by a gate, per image, during the forward passes inside.

    A head's output becomes ``g · out + (1 - g) · mean``: ``g = 1`` leaves it, ``g = 0``
    switches it off (to zero, or to ``means`` when given).

    Args:
        loaded: A timm ViT (or what :func:`helpers.models.load` returned for timm).
        gates: (B, L, H) or (L, H) gates (may require grad); B must be the batch size of
            every forward pass inside.
        means: (L, N, H · head_dim) each head's mean output per token (:func:`head_means`),
            or None to switch heads off to zero.

    Raises:
        ValueError: ``gates`` or ``means`` do not match the model, or a forward pass inside
            has another batch size.
    """
    blocks = attention_blocks(loaded)
    num_heads = blocks[0].num_heads
    if not isinstance(gates, torch.Tensor) or not gates.is_floating_point() or gates.ndim not in (
            2, 3) or tuple(gates.shape[-2:]) != (len(blocks), num_heads):
        got = (tuple(gates.shape), gates.dtype) if isinstance(gates, torch.Tensor) \
            else type(gates).__name__
        raise ValueError(f"gates must be floats of shape (B, {len(blocks)}, {num_heads}) "
                         f"(layers, heads); got {got}.")
    if means is not None and (not isinstance(means, torch.Tensor) or means.ndim != 3
                              or means.shape[0] != len(blocks)):
        got = tuple(means.shape) if isinstance(means, torch.Tensor) else type(means).__name__
        raise ValueError(f"means must have shape ({len(blocks)}, N, width) from head_means; "
                         f"got {got}.")
    per_image = gates if gates.ndim == 3 else gates[None]  # (B or 1, L, H)

    def hook_for(layer: int):
        def pre_hook(_module: nn.Module, args: tuple) -> tuple:
            x = args[0]  # (B, N, heads * head_dim): every head's output, side by side
            gate = per_image[:, layer].to(device=x.device, dtype=x.dtype)  # (B or 1, H)
            if gate.shape[0] not in (1, x.shape[0]):
                raise ValueError(f"gates hold {gate.shape[0]} images but the forward pass "
                                 f"has {x.shape[0]}.")
            scale = gate.repeat_interleave(x.shape[-1] // num_heads, dim=-1)[:, None, :]
            out = x * scale  # (B, N, H * head_dim)
            if means is not None:
                mean = means[layer].to(device=x.device, dtype=x.dtype)  # (N, H * head_dim)
                if mean.shape != x.shape[1:]:
                    raise ValueError(f"means[{layer}] has shape {tuple(mean.shape)} but the "
                                     f"forward pass has {tuple(x.shape[1:])}.")
                out = out + (1 - scale) * mean
            return (out,) + args[1:]

        return pre_hook

    with ExitStack() as stack:
        for layer, attn in enumerate(blocks):
            stack.callback(attn.proj.register_forward_pre_hook(hook_for(layer)).remove)
        yield


@contextmanager
def ablate_heads(loaded: Any, heads: torch.Tensor, means: torch.Tensor | None = None
                 ) -> Iterator[None]:
    """Switch chosen heads off, per image, during the forward passes inside.

    Args:
        loaded: A timm ViT (or what :func:`helpers.models.load` returned for timm).
        heads: (B, L, H) booleans, True for a head to switch off in that image; B must be
            the batch size of every forward pass inside (or (L, H) for every image).
        means: None to zero the heads' outputs, or :func:`head_means` to replace them by
            their mean output (mean ablation).

    Raises:
        ValueError: ``heads`` does not match the model's layers and heads, or a forward pass
            inside has another batch size.
    """
    blocks = attention_blocks(loaded)
    if not isinstance(heads, torch.Tensor) or heads.dtype != torch.bool or heads.ndim not in (
            2, 3) or tuple(heads.shape[-2:]) != (len(blocks), blocks[0].num_heads):
        got = (tuple(heads.shape), heads.dtype) if isinstance(heads, torch.Tensor) \
            else type(heads).__name__
        raise ValueError(f"heads must be booleans of shape (B, {len(blocks)}, "
                         f"{blocks[0].num_heads}) (layers, heads); got {got}.")
    with head_gates(loaded, (~heads).float(), means):
        yield


def head_means(loaded: Any, pixels: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Each head's mean output per token position over a set of images (for mean ablation).

    Args:
        loaded: A timm ViT (or what :func:`helpers.models.load` returned for timm).
        pixels: (B, 3, H, W) the images to average over.
        batch_size: Images per forward pass.

    Returns:
        (L, N, heads · head_dim) the mean input of every block's ``attn.proj``.
    """
    blocks = attention_blocks(loaded)
    module = unwrap(loaded)
    sums: list[torch.Tensor | None] = [None] * len(blocks)

    def hook_for(layer: int):
        def pre_hook(_module: nn.Module, args: tuple) -> None:
            total = args[0].double().sum(0)  # (N, H * head_dim)
            sums[layer] = total if sums[layer] is None else sums[layer] + total

        return pre_hook

    device = next(module.parameters()).device
    with ExitStack() as stack, torch.inference_mode(), attention_kernel(module, fused=True):
        for layer, attn in enumerate(blocks):
            stack.callback(attn.proj.register_forward_pre_hook(hook_for(layer)).remove)
        for start in range(0, len(pixels), batch_size):
            module(pixels[start:start + batch_size].to(device))
    return torch.stack([s / len(pixels) for s in sums]).float()  # (L, N, H * head_dim)


def head_importance(attentions: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Each head's signed Σ A ⊙ ∇A: the gradient of the class logit with respect to its gate.

    Args:
        attentions: (L, B, H, N, N) every layer's attention.
        gradients: (L, B, H, N, N) the class logit's gradient with respect to it (e.g. from
            :func:`helpers.maps.attribution.own_class_gradients`).

    Returns:
        (B, L, H) on the CPU: positive where the head raises the logit (switching it off is
        predicted to lower the logit by about this much), negative where it lowers it.
    """
    if not isinstance(attentions, torch.Tensor) or attentions.ndim != 5 or (
            not isinstance(gradients, torch.Tensor) or gradients.shape != attentions.shape):
        shapes = [tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                  for t in (attentions, gradients)]
        raise ValueError(f"attentions and gradients must both have shape (L, B, H, N, N); got "
                         f"{shapes[0]} and {shapes[1]}.")
    weighted = gradients.double() * attentions.double()  # (L, B, H, N, N)
    return weighted.sum(dim=(-2, -1)).transpose(0, 1).float().cpu()  # (B, L, H)


def gate_gradients(loaded: Any, pixels: torch.Tensor, classes: Any) -> torch.Tensor:
    """(B, L, H) the gradient of each image's class logit with respect to every head's gate,
    at g = 1, by autograd through :func:`head_gates` (one forward and one backward pass)."""
    blocks = attention_blocks(loaded)
    target = _check_pixels_classes(pixels, classes)
    module = unwrap(loaded)
    param = next(module.parameters())
    gates = torch.ones(len(pixels), len(blocks), blocks[0].num_heads, dtype=param.dtype,
                       device=param.device, requires_grad=True)
    with torch.enable_grad(), head_gates(module, gates):
        logits = _logits(module(pixels.to(param.device)), target)
        score = logits.gather(1, target[:, None].to(logits.device)).sum()
        (gradient,) = torch.autograd.grad(score, gates)
    return gradient.detach().float().cpu()


def top_heads(importance: torch.Tensor, k: int) -> torch.Tensor:
    """The k heads of each image with the largest importance: (B, L, H) booleans."""
    batch, layers, heads = importance.shape
    if not isinstance(k, int) or not 0 <= k <= layers * heads:
        raise ValueError(f"k must be an integer in [0, {layers * heads}]; got {k!r}.")
    flat = importance.reshape(batch, -1)  # (B, L * H)
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask.scatter_(1, flat.topk(k, dim=-1).indices, True)
    return mask.reshape(batch, layers, heads)


def random_heads(batch: int, layers: int, heads: int, k: int, seed: int = 0) -> torch.Tensor:
    """k heads drawn at random (without replacement) for each image: (B, L, H) booleans."""
    if not isinstance(k, int) or not 0 <= k <= layers * heads:
        raise ValueError(f"k must be an integer in [0, {layers * heads}]; got {k!r}.")
    generator = torch.Generator().manual_seed(seed)
    order = torch.rand(batch, layers * heads, generator=generator).argsort(dim=-1)
    mask = torch.zeros(batch, layers * heads, dtype=torch.bool)
    mask.scatter_(1, order[:, :k], True)
    return mask.reshape(batch, layers, heads)


def random_heads_like(chosen: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Random heads matched by layer: as many per layer and image as ``chosen`` has.

    Args:
        chosen: (B, L, H) booleans (e.g. :func:`top_heads`).
        seed: Seed of the draw.

    Returns:
        (B, L, H) booleans, each layer's count equal to ``chosen``'s, the heads random.
    """
    if not isinstance(chosen, torch.Tensor) or chosen.dtype != torch.bool or chosen.ndim != 3:
        raise ValueError("chosen must be (B, L, H) booleans.")
    generator = torch.Generator().manual_seed(seed)
    rank = torch.rand(chosen.shape, generator=generator).argsort(-1).argsort(-1)  # (B, L, H)
    return rank < chosen.sum(-1, keepdim=True)  # the first `count` of a random order


@dataclass(frozen=True)
class AblationScores:
    """The class score of every image with each of its head sets switched off.

    Attributes:
        logits: (B, K) the class logit.
        probabilities: (B, K) its softmax probability.
    """

    logits: torch.Tensor
    probabilities: torch.Tensor


def ablation_scores(loaded: Any, pixels: torch.Tensor, classes: Any, head_sets: torch.Tensor,
                    batch_size: int = 64, means: torch.Tensor | None = None) -> AblationScores:
    """The class logit and probability of every image with each of its head sets switched off.

    Args:
        loaded: A timm ViT (or what :func:`helpers.models.load` returned for timm).
        pixels: (B, 3, H, W) preprocessed images.
        classes: (B,) the class to score in each image.
        head_sets: (B, K, L, heads) booleans: K sets of heads to switch off per image.
        batch_size: Images per forward pass.
        means: None to zero the heads, or :func:`head_means` for mean ablation.

    Returns:
        :class:`AblationScores` of shape (B, K) each.
    """
    blocks = attention_blocks(loaded)
    target = _check_pixels_classes(pixels, classes)
    batch = pixels.shape[0]
    want = (batch, len(blocks), blocks[0].num_heads)
    if not isinstance(head_sets, torch.Tensor) or head_sets.ndim != 4 or (
            head_sets.shape[0], *head_sets.shape[2:]) != want:
        got = tuple(head_sets.shape) if isinstance(head_sets, torch.Tensor) else head_sets
        raise ValueError(f"head_sets must have shape ({batch}, K, {want[1]}, {want[2]}); "
                         f"got {got}.")
    module = unwrap(loaded)
    device = next(module.parameters()).device
    sets = head_sets.shape[1]
    image = torch.arange(batch).repeat_interleave(sets)  # (B * K,)
    flat_sets = head_sets.reshape(batch * sets, *want[1:])  # (B * K, L, H)
    logits, probs = torch.empty(batch * sets), torch.empty(batch * sets)
    with torch.inference_mode(), attention_kernel(module, fused=True):
        for start in range(0, batch * sets, batch_size):
            index = image[start:start + batch_size]
            with ablate_heads(module, flat_sets[start:start + batch_size], means):
                output = _logits(module(pixels[index].to(device)), target).float()
            picked = target[index, None].to(output.device)
            logits[start:start + batch_size] = output.gather(1, picked)[:, 0].cpu()
            probs[start:start + batch_size] = output.softmax(-1).gather(1, picked)[:, 0].cpu()
    return AblationScores(logits=logits.reshape(batch, sets),
                          probabilities=probs.reshape(batch, sets))
