"""Notebook 05's rollout explorer: pick a photo (or upload one), a head fusion, a discard ratio,
a range of layers and a class, and see the rolled-out map beside the raw attention of the top
layer of the range.

Built on :class:`helpers.explorers.base.Explorer`. The slow path runs once per photo
(:func:`prepare`): one forward pass with autograd on and one backward pass per top class,
after which every layer's map is fused over heads for each fusion and each class (plain
attention, and attention weighted by each top class's gradient), and the threshold that each
discard ratio of the slider implies is found for every layer. A control move then only does
the cheap part: mask, add the residual, normalise rows, and multiply a *row vector* through the
chosen layers (:func:`cls_rollout`). Only the class token's row of the rollout is drawn, so
``e₀ᵀ · A_end ⋯ A_start`` needs L vector-matrix products instead of L matrix products.

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
from matplotlib import colormaps
from matplotlib.figure import Figure

from helpers.data.preprocessing import pixels_to_image
from helpers.explorers.base import Explorer
from helpers.explorers.picker import PhotoPicker, PickerExplorer
from helpers.figures.maps import overlay_alpha
from helpers.maps.gradients import attention_gradients, grad_weighted_attention
from helpers.maps.rollout import HEAD_FUSIONS, fuse_heads
from helpers.shapes import require_nonempty

__all__ = ["DISCARD_RATIOS", "NO_CLASS", "RolloutInputs", "discard_thresholds", "cls_rollout",
           "prepare", "RolloutExplorer"]

#: The discard ratios the slider offers, one per whole percent (vit-explain uses 0.9 to 0.99).
DISCARD_RATIOS = tuple(percent / 100 for percent in range(100))
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


def discard_thresholds(fused: np.ndarray, ratios: Sequence[float] = DISCARD_RATIOS
                       ) -> np.ndarray:
    """For each ratio and layer, the largest value that :mod:`helpers.maps.rollout`'s discard drops.

    The discard zeroes the ``int(N·N·ratio)`` lowest entries of a layer's map outside the
    class token's row and column. Sorting those entries once gives, for any ratio, the value
    at that rank: zeroing every entry ``<=`` it is the same discard (up to exact ties there,
    which only matter if they are not zeros).

    Args:
        fused: (L, N, N) one image's maps fused over heads.
        ratios: Discard ratios in [0, 1).

    Returns:
        (len(ratios), L) float32 thresholds; ``-inf`` where the ratio drops nothing.
    """
    fused = np.asarray(fused)
    if fused.ndim != 3 or fused.shape[-1] != fused.shape[-2]:
        raise ValueError(f"fused must have shape (L, N, N); got {fused.shape}.")
    require_nonempty("fused", fused, "(L, N, N)")
    if any(not 0.0 <= r < 1.0 for r in ratios):
        raise ValueError(f"ratios must lie in [0, 1); got {list(ratios)}.")
    layers, n, _ = fused.shape
    ordered = np.sort(fused[:, 1:, 1:].reshape(layers, -1), axis=-1)  # (L, (N-1)²)
    out = np.full((len(ratios), layers), -np.inf, dtype=np.float32)
    for r, ratio in enumerate(ratios):
        count = min(int(n * n * ratio), ordered.shape[-1])
        if count > 0:
            out[r] = ordered[:, count - 1]
    return out


def cls_rollout(fused: np.ndarray, thresholds: np.ndarray | None = None) -> np.ndarray:
    """The class token's row of the rollout of some layers, as a vector-matrix chain.

    Equals ``helpers.maps.rollout.attention_rollout`` of the same layers (its rows are re-normalised
    after adding the identity, so halving ``A + I`` changes nothing and is skipped). Written in
    numpy: on a busy 2-core machine torch's thread pool made these small element-wise steps
    about 50 times slower (48 ms against 0.6 ms for 12 layers of 197 x 197).

    Args:
        fused: (L, N, N) maps fused over heads, first layer first.
        thresholds: (L,) entries ``<=`` these are dropped (outside the class token's row and
            column); None drops nothing.

    Returns:
        (N - 1,) the class token's rolled-out attention to each patch.
    """
    fused = np.asarray(fused)
    if fused.ndim != 3 or fused.shape[-1] != fused.shape[-2]:
        raise ValueError(f"fused must have shape (L, N, N); got {fused.shape}.")
    require_nonempty("fused", fused, "(L, N, N)")
    n = fused.shape[-1]
    if thresholds is None:
        joint = fused.copy()  # (L, N, N)
    else:
        thresholds = np.asarray(thresholds)
        if thresholds.shape != (len(fused),):
            raise ValueError(f"thresholds must have shape ({len(fused)},); got "
                             f"{thresholds.shape}.")
        joint = fused * (fused > thresholds[:, None, None])  # (L, N, N), lowest dropped
        joint[:, 0, :] = fused[:, 0, :]  # the class token's row and column always stay
        joint[:, :, 0] = fused[:, :, 0]
    diagonal = np.arange(n)
    joint[:, diagonal, diagonal] += 1.0  # the residual connection
    joint /= joint.sum(axis=-1, keepdims=True)  # rows sum to 1
    row = np.zeros(n, dtype=joint.dtype)  # (N,)
    row[0] = 1.0  # e₀: the class token
    for layer in joint[::-1]:  # e₀ᵀ · A_L · A_(L-1) ⋯ A_1
        row = row @ layer  # (N,)
    return row[1:]  # (N - 1,)


def _short(label: str) -> str:
    """The first name of an ImageNet label ("tabby, tabby cat" -> "tabby")."""
    return label.split(",")[0].strip()


def prepare(loaded: Any, image: Any, top_k: int = 3, ratios: Sequence[float] = DISCARD_RATIOS
            ) -> RolloutInputs:
    """The slow path, once per photo: attention, gradients for the top classes, fused maps.

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
    probs = loaded.logits(pixels).softmax(-1)[0]  # (classes,)
    top = probs.topk(min(top_k, probs.numel()))
    indices = top.indices.tolist()
    found = attention_gradients(loaded, pixels, indices)
    attentions = found.attentions[:, 0].float().cpu()  # (L, heads, N, N)
    gradients = found.gradients[:, :, 0].float().cpu()  # (C, L, heads, N, N)
    fused: dict[tuple[int, str], np.ndarray] = {}
    for fusion in HEAD_FUSIONS:
        fused[(NO_CLASS, fusion)] = fuse_heads(attentions, fusion).numpy()  # (L, N, N)
        for c, index in enumerate(indices):
            weighted = grad_weighted_attention(attentions, gradients[c], fusion)  # (L, N, N)
            fused[(index, fusion)] = weighted.numpy()
    classes = tuple((i, _short(loaded.labels[i]), float(p))
                    for i, p in zip(indices, top.values.tolist(), strict=True))
    thresholds = {key: discard_thresholds(m, ratios) for key, m in fused.items()}
    return RolloutInputs(photo=pixels_to_image(pixels[0], loaded.preprocess), classes=classes,
                         fused=fused, thresholds=thresholds, ratios=tuple(ratios))


def _rgba(values: np.ndarray, side: int, over: bool) -> np.ndarray:
    """(P,) map -> (g, g, 4) float RGBA, scaled to its own maximum (faint where low if over)."""
    grid = values.reshape(side, side)  # (g, g)
    scaled = grid / max(float(grid.max()), 1e-12)
    rgba = colormaps["inferno"](scaled)  # (g, g, 4)
    if over:
        rgba[..., 3] = overlay_alpha(scaled)
    return rgba


class RolloutExplorer(PickerExplorer):
    """Image picker with upload, head fusion, discard ratio, layer range and class, over a model.

    Args:
        loaded: A classifier from :func:`helpers.models.load`.
        photos: Name -> photo (anything :func:`helpers.data.images.load_image` accepts); the first
            is computed at once, the others when first picked.
        top_k: Classes offered per photo (its most probable ones).
        size: Inches per panel.
        dpi: Resolution of the picture sent to the browser.

    Attributes:
        explorer: The :class:`helpers.explorers.base.Explorer` (controls, picture, status line).
        widget: Its ``ipywidgets.VBox``.
        computed: How many photos have been run through the model (the slow path).
        last_map: (N - 1,) the rolled-out map drawn last.
    """

    def __init__(self, loaded: Any, photos: Mapping[str, Any], top_k: int = 3,
                 size: float = 2.6, dpi: int = 80) -> None:
        import ipywidgets as widgets

        self.loaded = loaded
        self.top_k = top_k
        self._photos = PhotoPicker(photos, lambda image: prepare(loaded, image, top_k))
        self.picker, self.upload = self._photos.dropdown, self._photos.upload
        first = self.picker.value
        inputs = self.inputs(first)
        depth = next(iter(inputs.fused.values())).shape[0]
        self._side = int(round((next(iter(inputs.fused.values())).shape[-1] - 1) ** 0.5))

        narrow = widgets.Layout(width="200px")
        self.picker.observe(self._on_picker, names="value")  # before Explorer's own observer
        self.target = widgets.Dropdown(options=self._class_options(inputs), value=NO_CLASS,
                                       description="class", layout=widgets.Layout(width="260px"))
        controls = {
            "image": self.picker,
            "upload": self.upload,
            "target": self.target,
            "fusion": widgets.Dropdown(options=list(HEAD_FUSIONS), value="mean",
                                       description="heads", layout=narrow),
            "discard": widgets.IntSlider(value=0, min=0, max=99, description="discard %"),
            "layers": widgets.IntRangeSlider(value=(0, depth - 1), min=0, max=depth - 1,
                                             description="layers"),
        }

        self.figure = Figure(figsize=(3 * size, size + 0.35), dpi=dpi, layout="constrained")
        ax_photo, ax_rollout, ax_raw = self.figure.subplots(1, 3)
        height, width = inputs.photo.shape[:2]
        blank = np.zeros((self._side, self._side, 4))
        self._photo = ax_photo.imshow(inputs.photo)
        self._over = ax_photo.imshow(blank, extent=(0, width, height, 0), interpolation="nearest")
        self._alone = ax_rollout.imshow(blank, interpolation="nearest")
        self._raw = ax_raw.imshow(blank, interpolation="nearest")
        self._titles = tuple(ax.set_title("", fontsize=9) for ax in (ax_photo, ax_rollout, ax_raw))
        for ax in (ax_photo, ax_rollout, ax_raw):
            ax.set_axis_off()
        self._shown_photo = first
        self.last_map = np.zeros(self._side * self._side, dtype=np.float32)
        self.explorer = Explorer(controls, self.figure, self._draw, dpi=dpi)
        self.explorer.widget.children[0].layout.flex_flow = "row wrap"  # six controls
        self.widget = self.explorer.widget

    # ------------------------------------------------------------------ public

    def inputs(self, name: str) -> RolloutInputs:
        """The precomputed inputs of photo ``name``, computing them on first use (slow)."""
        return self._photos.get(name)

    def set(self, **values: Any) -> float:
        """Move controls (image, target, fusion, discard in whole percent, layers) as a reader
        would; returns the seconds the last redraw took."""
        return self.explorer.set(**values)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _class_options(inputs: RolloutInputs) -> list[tuple[str, int]]:
        return [("attention rollout (no class)", NO_CLASS)] + [
            (f"{label} ({p:.0%})", index) for index, label, p in inputs.classes]

    def _on_picker(self, change: Mapping[str, Any]) -> None:
        inputs = self.inputs(change["new"])  # the slow path for a photo seen the first time
        self.target.options = self._class_options(inputs)
        self.target.value = NO_CLASS  # options that share a class with the last photo keep it

    def _draw(self, image: str, upload: Any, target: int, fusion: str, discard: int,
              layers: tuple[int, int]) -> str:
        del upload  # handled by _on_upload; the picker then names the new photo
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
        notice = self._photos.take_notice()
        return ((f"{notice} · " if notice else "") + f"{image} · {what} · {fusion} of heads · "
                f"discard {discard}% · layers {start}–{end} · brightest patch {share:.1%}")
