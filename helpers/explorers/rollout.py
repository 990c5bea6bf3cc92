"""Notebook 05's rollout explorer: pick a photo (or upload one), a head fusion, a discard ratio,
a range of layers and a class, and see the rolled-out map beside the raw attention of the top
layer of the range.

Built on :class:`helpers.explorers.base.Explorer`. The slow path runs once per photo
(:func:`prepare_rollout`): one forward pass with autograd on and one backward pass per top class,
(one forward pass picks the top classes and feeds the backward pass too), after which every
layer's map is fused over heads for each fusion and each class (plain
attention, and attention weighted by each top class's gradient), and the threshold that each
discard ratio of the slider implies is found for every layer. A control move then only does
the cheap part: mask, add the residual, normalise rows, and multiply a *row vector* through the
chosen layers (:func:`helpers.maps.rollout.cls_rollout`). Only the class token's row of the
rollout is drawn, so ``e₀ᵀ · A_end ⋯ A_start`` needs L vector-matrix products instead of L
matrix products.

The discard slider is the first slider and counts in whole percent (0-99): it starts at 0 with
room to move, typing a number in its box works, and every move changes the figure's text, so
each redraw sends a new picture.

Example::

    explorer = RolloutExplorer(loaded, sample_images())
    explorer                                          # shows the widget
    explorer.set(fusion="max", discard=90)            # discard counts in whole percent
    explorer.set(layers=(4, 11), target=explorer.inputs("chelsea").classes[0][0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from helpers.data.preprocessing import pixels_to_image
from helpers.explorers.base import Explorer
from helpers.explorers.picker import PhotoPicker
from helpers.figures.maps import heat_rgba, photo_extent
from helpers.maps.gradients import attention_gradients, grad_weighted_attention
from helpers.maps.rollout import (
    DISCARD_RATIOS,
    HEAD_FUSIONS,
    cls_rollout,
    discard_thresholds,
    fuse_heads,
)

__all__ = ["NO_CLASS", "RolloutInputs", "prepare_rollout", "RolloutExplorer"]

#: The class dropdown's value for plain attention rollout (no class).
NO_CLASS = -1


@dataclass(frozen=True)
class RolloutInputs:
    """Everything the explorer draws for one photo, computed once.

    Attributes:
        photo: (H, W, 3) the crop the model saw, in [0, 1].
        classes: The top classes as ``(index, short label, probability)``, most probable first.
        fused: ``(source, fusion)`` -> (L, N, N) float32 numpy maps fused over heads; ``source`` is
            :data:`NO_CLASS` for plain attention or a class index for its gradient-weighted
            attention (:func:`helpers.maps.gradients.grad_weighted_attention`).
        thresholds: Same keys -> (len(ratios), L): the largest value each discard ratio drops
            in each layer (``-inf`` where it drops nothing).
        ratios: The discard ratios of ``thresholds``.
    """

    photo: np.ndarray
    classes: tuple[tuple[int, str, float], ...]
    fused: dict[tuple[int, str], np.ndarray]
    thresholds: dict[tuple[int, str], np.ndarray]
    ratios: tuple[float, ...]


def _short(label: str) -> str:
    """The first name of an ImageNet label ("tabby, tabby cat" -> "tabby")."""
    return label.split(",")[0].strip()


def prepare_rollout(loaded: Any, image: Any, top_k: int = 3,
                    ratios: Sequence[float] = DISCARD_RATIOS) -> RolloutInputs:
    """The slow path, once per photo: attention, gradients for the top classes, fused maps.

    One forward pass with autograd on captures the attention and gives the logits; the top
    classes are read off those logits and differentiated in one batched backward pass.

    Args:
        loaded: What :func:`helpers.models.load` returned (a classifier).
        image: Anything :func:`helpers.data.images.load_image` accepts.
        top_k: How many of the model's top classes get a gradient-weighted map.
        ratios: The discard ratios to find thresholds for.

    Returns:
        The photo's :class:`RolloutInputs`.
    """
    if not loaded.labels:
        raise ValueError("the explorer explains classes, so it needs a classifier; "
                         f"{loaded.name} has no labels.")
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer; got {top_k!r}.")
    pixels = loaded.batch([image])  # (1, 3, H, W)
    found = attention_gradients(  # the top classes, read off this same forward pass
        loaded, pixels, lambda logits: logits[0].topk(min(top_k, logits.shape[-1])).indices)
    indices = list(found.class_indices)
    probs = found.logits[0].float().softmax(-1)  # (classes,)
    attentions = found.attentions[:, 0].float().cpu()  # (L, heads, N, N)
    gradients = found.gradients[:, :, 0].float().cpu()  # (C, L, heads, N, N)
    fused: dict[tuple[int, str], np.ndarray] = {}
    for fusion in HEAD_FUSIONS:
        fused[(NO_CLASS, fusion)] = fuse_heads(attentions, fusion).numpy()  # (L, N, N)
        for c, index in enumerate(indices):
            weighted = grad_weighted_attention(attentions, gradients[c], fusion)  # (L, N, N)
            fused[(index, fusion)] = weighted.numpy()
    classes = tuple((i, _short(loaded.labels[i]), float(probs[i])) for i in indices)
    thresholds = {key: discard_thresholds(m, ratios) for key, m in fused.items()}
    return RolloutInputs(photo=pixels_to_image(pixels[0], loaded.preprocess), classes=classes,
                         fused=fused, thresholds=thresholds, ratios=tuple(ratios))


def _rgba(values: np.ndarray, side: int, over: bool) -> np.ndarray:
    """(P,) map -> (g, g, 4) RGBA, scaled to its own maximum (faint where low if ``over``)."""
    grid = values.reshape(side, side)  # (g, g)
    return heat_rgba(grid / max(float(grid.max()), 1e-12), alpha=0.75 if over else None)


class RolloutExplorer(Explorer):
    """Image picker with upload, head fusion, discard ratio, layer range and class, over a model.

    Args:
        loaded: A classifier from :func:`helpers.models.load`.
        photos: Name -> photo (anything :func:`helpers.data.images.load_image` accepts); the
            first is computed at once, the others when first picked.
        top_k: Classes offered per photo (its most probable ones).
        size: Inches per panel.
        dpi: Resolution of the picture sent to the browser.

    Attributes:
        target: The class dropdown (:data:`NO_CLASS` for plain attention rollout).
        last_map: (N - 1,) the rolled-out map drawn last.
    """

    def __init__(self, loaded: Any, photos: Mapping[str, Any], top_k: int = 3,
                 size: float = 2.6, dpi: int = 80) -> None:
        import ipywidgets as widgets

        self.loaded = loaded
        self.top_k = top_k
        picker = PhotoPicker(photos, lambda image: prepare_rollout(loaded, image, top_k))
        inputs = picker.get(picker.dropdown.value)
        depth = next(iter(inputs.fused.values())).shape[0]
        self._side = int(round((next(iter(inputs.fused.values())).shape[-1] - 1) ** 0.5))

        narrow = widgets.Layout(width="200px")
        self.target = widgets.Dropdown(options=self._class_options(inputs), value=NO_CLASS,
                                       description="class", layout=widgets.Layout(width="260px"))
        controls = {
            "target": self.target,
            "fusion": widgets.Dropdown(options=list(HEAD_FUSIONS), value="mean",
                                       description="heads", layout=narrow),
            "discard": widgets.IntSlider(value=0, min=0, max=99, description="discard %"),
            "layers": widgets.IntRangeSlider(value=(0, depth - 1), min=0, max=depth - 1,
                                             description="layers"),
        }

        figure = Figure(figsize=(3 * size, size + 0.35), dpi=dpi, layout="constrained")
        ax_photo, ax_rollout, ax_raw = figure.subplots(1, 3)
        blank = np.zeros((self._side, self._side, 4))
        self._photo = ax_photo.imshow(inputs.photo)
        self._over = ax_photo.imshow(blank, extent=photo_extent(inputs.photo),
                                     interpolation="nearest")
        self._alone = ax_rollout.imshow(blank, interpolation="nearest")
        self._raw = ax_raw.imshow(blank, interpolation="nearest")
        self._titles = tuple(ax.set_title("", fontsize=9) for ax in (ax_photo, ax_rollout, ax_raw))
        for ax in (ax_photo, ax_rollout, ax_raw):
            ax.set_axis_off()
        self._shown_photo = picker.dropdown.value
        self.last_map = np.zeros(self._side * self._side, dtype=np.float32)
        super().__init__(controls, figure, photos=picker, dpi=dpi)

    def inputs(self, name: str) -> RolloutInputs:
        """The precomputed inputs of photo ``name``, computing them on first use (slow)."""
        return self._photos.get(name)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _class_options(inputs: RolloutInputs) -> list[tuple[str, int]]:
        return [("attention rollout (no class)", NO_CLASS)] + [
            (f"{label} ({p:.0%})", index) for index, label, p in inputs.classes]

    def _control_changed(self, name: str) -> None:
        if name == "image":  # a new photo has its own top classes
            self.target.options = self._class_options(self.inputs(self.picker.value))
            self.target.value = NO_CLASS  # even if the new photo shares the class shown

    def _draw(self, image: str, target: int, fusion: str, discard: int,
              layers: tuple[int, int]) -> str:
        inputs = self.inputs(image)  # precomputed unless the photo is new
        names = {index: label for index, label, _ in inputs.classes}
        if target not in names:
            target = NO_CLASS
        start, end = layers
        key = (target, fusion)
        fused = inputs.fused[key][start:end + 1]  # (layers, N, N)
        r = inputs.ratios.index(discard / 100)  # the slider counts in whole percent
        thresholds = inputs.thresholds[key][r, start:end + 1]  # (layers,)
        self.last_map = cls_rollout(fused, thresholds)  # (N - 1,)
        raw = fused[-1, 0, 1:]  # (N - 1,): the top layer's class-token row
        if self._shown_photo != image:
            self._photo.set_data(inputs.photo)
            self._shown_photo = image
        self._over.set_data(_rgba(self.last_map, self._side, over=True))
        self._alone.set_data(_rgba(self.last_map, self._side, over=False))
        self._raw.set_data(_rgba(raw, self._side, over=False))
        what = "attention rollout" if target == NO_CLASS else f"gradient rollout: {names[target]}"
        self._titles[0].set_text(what)  # the photo's name is in the picker and the status
        self._titles[1].set_text(f"layers {start}–{end} · {fusion} · discard {discard}%")
        self._titles[2].set_text(f"layer {end} alone (CLS row)")
        share = float(self.last_map.max() / max(float(self.last_map.sum()), 1e-12))
        return (f"{image} · {what} · {fusion} of heads · discard {discard}% · "
                f"layers {start}–{end} · brightest patch {share:.1%}")
