"""The linear probe: frozen features computed once, then a logistic regression on them.

A probe trains no part of the network. One pass over the images collects, for each of the
last ``blocks`` transformer blocks, the class token and the mean of the patch tokens (after
the final LayerNorm, so every block's numbers share a scale): 2 · blocks · width numbers per
image. Earlier blocks keep more of *where* and *what texture*, the last one more of the
ImageNet classes; the probe may use all of them. The last block's class token alone is what
the model's own head reads (its *pre-logits*).

:func:`fit_probe` fits a multinomial logistic regression with an L2 penalty by L-BFGS on
standardised features (full batch: seconds for thousands of images). A probe fitted on the
pre-logits can become the model's head (:meth:`LinearProbe.as_head`): fine-tuning then starts
from a head that already works, so the first gradients do not scramble the pretrained features
(*LP-FT*, Kumar et al., 2022).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from helpers.finetune.data import ImageSplit, PixelPipeline
from helpers.finetune.precision import Precision
from helpers.models.libraries import attention_kernel, unwrap

__all__ = ["Features", "extract_features", "LinearProbe", "fit_probe"]


@dataclass(frozen=True)
class Features:
    """Frozen features of a split.

    Attributes:
        blocks: (N, 2 · blocks · width) class token and mean patch token of each of the last
            blocks, block by block.
        pre_logits: (N, width) the last block's class token after the final norm: what the
            model's head reads.
        labels: (N,) classes.
        seconds: Wall-clock seconds the pass took.
    """

    blocks: torch.Tensor
    pre_logits: torch.Tensor
    labels: torch.Tensor
    seconds: float


def extract_features(model: nn.Module, split: ImageSplit, pipeline: PixelPipeline, blocks: int = 4,
                     precision: Precision | None = None, batch_size: int = 100,
                     flip: bool = False, progress: bool = False) -> Features:
    """One frozen forward pass over ``split`` (timm's ``forward_intermediates``).

    Args:
        model: A timm ViT (not modified; run in eval mode, every token kept).
        split: The images.
        pipeline: Their preprocessing (no augmentation).
        blocks: How many of the last blocks to read.
        precision: Autocast setting; features are returned in float32.
        batch_size: Images per pass.
        flip: Mirror every image first (for flip-averaged probes).
        progress: Show a tqdm bar.

    Returns:
        :class:`Features`.
    """
    vit = unwrap(model)
    device = next(vit.parameters()).device
    depth = len(vit.blocks)
    if not 1 <= blocks <= depth:
        raise ValueError(f"blocks must lie in [1, {depth}]; got {blocks}.")
    was_training = vit.training
    vit.eval()
    starts = range(0, len(split), batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="features", unit="batch")
    found, last = [], []
    clock = time.perf_counter()
    try:
        with torch.inference_mode(), attention_kernel(vit, fused=True):
            for start in starts:
                pixels = pipeline(split.images[start:start + batch_size].to(device), flip=flip)
                with precision.autocast() if precision else contextlib.nullcontext():
                    final, middle = vit.forward_intermediates(
                        pixels, indices=blocks, return_prefix_tokens=True, norm=True,
                        output_fmt="NLC")  # (b, N, D), blocks x ((b, P, D), (b, 1, D))
                parts = []
                for patches, prefix in middle:
                    parts += [prefix[:, 0].float(), patches.float().mean(1)]  # 2 x (b, D)
                found.append(torch.cat(parts, dim=-1).cpu())  # (b, 2 · blocks · D)
                last.append(vit.forward_head(final, pre_logits=True).float().cpu())  # (b, D)
    finally:
        vit.train(was_training)
    return Features(torch.cat(found), torch.cat(last), split.labels.clone(),
                    time.perf_counter() - clock)


@dataclass(frozen=True)
class LinearProbe:
    """A logistic regression on standardised features.

    Attributes:
        mean: (F,) feature means of the training set.
        std: (F,) their standard deviations.
        linear: ``Linear(F, classes)`` on the standardised features.
    """

    mean: torch.Tensor
    std: torch.Tensor
    linear: nn.Linear

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) features -> (N, classes) logits."""
        with torch.no_grad():
            return self.linear((features - self.mean) / self.std)

    def accuracy(self, features: torch.Tensor, labels: torch.Tensor,
                 flipped: torch.Tensor | None = None) -> float:
        """Share classified right; with ``flipped`` features, probabilities are averaged."""
        probabilities = self.logits(features).softmax(-1)
        if flipped is not None:
            probabilities = (probabilities + self.logits(flipped).softmax(-1)) / 2
        return float((probabilities.argmax(-1) == labels).float().mean())

    def as_head(self) -> nn.Linear:
        """The same classifier on raw features: the standardisation folded into the weights,
        W' = W / std, b' = b - W' · mean, ready to replace a model's head (LP-FT)."""
        weight = self.linear.weight.detach() / self.std  # (classes, F)
        bias = self.linear.bias.detach() - weight @ self.mean  # (classes,)
        head = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            head.weight.copy_(weight)
            head.bias.copy_(bias)
        return head


def fit_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
              l2: float = 1.0, max_iter: int = 200) -> LinearProbe:
    """Fit a multinomial logistic regression (L-BFGS, full batch).

    Args:
        features: (N, F) training features.
        labels: (N,) classes.
        num_classes: Classes of the problem.
        l2: Strength of the L2 penalty, (l2 / 2N) · ||W||², as scikit-learn's ``1 / C``.
        max_iter: L-BFGS iterations.

    Returns:
        The :class:`LinearProbe`.
    """
    if features.ndim != 2 or len(features) != len(labels) or len(labels) == 0:
        raise ValueError(f"features must be (N, F) with one label each; got "
                         f"{tuple(features.shape)} and {tuple(labels.shape)}.")
    x = features.double()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mean) / std  # (N, F)
    linear = nn.Linear(x.shape[1], num_classes).double()
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(linear.parameters(), lr=1.0, max_iter=max_iter,
                                  history_size=20, line_search_fn="strong_wolfe")
    target = labels.long()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(z), target) + l2 / (2 * len(z)) * linear.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return LinearProbe(mean.float(), std.float(), linear.float())
