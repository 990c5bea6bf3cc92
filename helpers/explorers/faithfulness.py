"""Notebook 08's explorer: pick a photo (or upload one) and a method, and watch its deletion or
insertion curve being made, one step at a time.

Built on :class:`helpers.explorers.base.Explorer`. The slow path runs once per photo
(:func:`prepare_faithfulness`): every method's map (:func:`helpers.maps.attribution.
explanation_maps`) and its deletion and insertion curves
(:func:`helpers.evaluation.faithfulness.perturbation_curves`), with RISE's pairing by default:
deleted patches turn grey, insertion starts from a blurred copy. A control move only composes the
partly removed photo from two precomputed pictures (the photo and what removed patches show
in that curve) with the method's patch order (ties broken by the same seeded draw as the
curve), moves a marker along the precomputed curve and redraws.

The step slider comes first: it starts half-way, so it has room to move either way, every
move changes the picture, and typing a number in its box works.

Example::

    explorer = FaithfulnessExplorer(loaded, sample_images())
    explorer                                         # shows the widget
    explorer.set(method="occlusion", curve="insertion", step=3)
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from helpers.data.preprocessing import pixels_to_image
from helpers.evaluation.faithfulness import MODES, curve_auc, patch_order, perturbation_curves
from helpers.evaluation.removal import FILLS, RISE_REMOVAL, removal_baseline
from helpers.explorers.base import Explorer
from helpers.explorers.picker import PhotoPicker
from helpers.figures.faithfulness import method_colours
from helpers.figures.maps import heat_rgba, photo_extent
from helpers.maps.attribution import METHODS, explanation_maps

__all__ = ["FaithfulnessInputs", "prepare_faithfulness", "FaithfulnessExplorer"]


@dataclass(frozen=True)
class FaithfulnessInputs:
    """Everything the explorer draws for one photo, computed once.

    Attributes:
        photo: (H, W, 3) the crop the model saw, in [0, 1].
        removed: Mode -> (H, W, 3) what removed patches show in that curve, in [0, 1].
        label: The explained class (the model's top class), short name.
        probability: The model's probability for it.
        heat: Method -> (g, g, 4) RGBA of its map, scaled to its own range.
        orders: Method -> (P,) patch indices, most important first.
        curves: ``(method, mode)`` -> (steps + 1,) class probabilities.
        aucs: ``(method, mode)`` -> area under that curve.
        steps: Steps per curve.
    """

    photo: np.ndarray
    removed: dict[str, np.ndarray]
    label: str
    probability: float
    heat: dict[str, np.ndarray]
    orders: dict[str, np.ndarray]
    curves: dict[tuple[str, str], np.ndarray]
    aucs: dict[tuple[str, str], float]
    steps: int


def prepare_faithfulness(loaded: Any, image: Any, steps: int = 14,
                         baseline: str | None = None,
                         methods: Sequence[str] = METHODS, occlusion_window: int = 32
                         ) -> FaithfulnessInputs:
    """The slow path, once per photo: every method's map and both curves of each.

    Args:
        loaded: What :func:`helpers.models.load` returned (timm, for Grad-CAM).
        image: Anything :func:`helpers.data.images.load_image` accepts.
        steps: Steps per curve; must divide the number of patches.
        baseline: What removed patches become, one of the fills of
            :mod:`helpers.evaluation.removal` for both curves, or None for RISE's pairing (grey for
            deletion, blur for insertion).
        methods: Which methods to offer.
        occlusion_window: Side of the occlusion window in pixels.

    Returns:
        The photo's :class:`FaithfulnessInputs`.
    """
    if not loaded.labels:
        raise ValueError("the explorer explains a class, so it needs a classifier; "
                         f"{loaded.name} has no labels.")
    pixels = loaded.batch([image])  # (1, 3, H, W)
    found = explanation_maps(loaded, pixels, methods=methods, occlusion_window=occlusion_window)
    kinds = dict(RISE_REMOVAL) if baseline is None else dict.fromkeys(MODES, baseline)
    if any(kind not in FILLS for kind in kinds.values()):
        raise ValueError(f"baseline must be one of {', '.join(FILLS)} or None; got "
                         f"{baseline!r}.")
    replacement = {mode: removal_baseline(pixels.cpu(), kinds[mode]) for mode in MODES}
    curves, aucs = {}, {}
    for mode in MODES:
        per_method = perturbation_curves(loaded, pixels, found.maps, found.classes, mode=mode,
                                         steps=steps, baseline=replacement[mode])
        for method, curve in per_method.items():
            curves[method, mode] = curve[0].numpy()  # (steps + 1,)
            aucs[method, mode] = float(curve_auc(curve)[0])
    side = int(round(found.maps[methods[0]].shape[-1] ** 0.5))
    heat = {}
    for method, value in found.maps.items():
        grid = value[0].numpy().reshape(side, side)  # (g, g)
        span = max(float(grid.max() - grid.min()), 1e-12)
        heat[method] = heat_rgba((grid - grid.min()) / span, alpha=0.75)  # (g, g, 4)
    index = int(found.classes[0])
    return FaithfulnessInputs(
        photo=pixels_to_image(pixels[0], loaded.preprocess),
        removed={mode: pixels_to_image(replacement[mode][0], loaded.preprocess)
                 for mode in MODES},
        label=loaded.labels[index].split(",")[0].strip(),
        probability=float(found.probabilities[0]), heat=heat,
        orders={m: patch_order(v, seed=0)[0].numpy() for m, v in found.maps.items()},
        curves=curves, aucs=aucs, steps=steps)


class FaithfulnessExplorer(Explorer):
    """Photo picker with upload, method, curve (deletion or insertion) and step, over a model.

    Args:
        loaded: A timm classifier from :func:`helpers.models.load`.
        photos: Name -> photo; the first is computed at once, the others when first picked.
        steps: Steps per curve (must divide the number of patches: 7, 14, 28 for 196).
        methods: The methods to offer (``"random"`` is also drawn as a reference curve).
        occlusion_window: Side of the occlusion window in pixels.
        size: Inches per panel.
        dpi: Resolution of the picture sent to the browser.

    Attributes:
        last_probability: The class probability at the step drawn last.
    """

    def __init__(self, loaded: Any, photos: Mapping[str, Any], steps: int = 14,
                 methods: Sequence[str] = METHODS, occlusion_window: int = 32,
                 size: float = 2.6, dpi: int = 80) -> None:
        import ipywidgets as widgets

        self.methods = tuple(methods)
        picker = PhotoPicker(photos, lambda image: prepare_faithfulness(
            loaded, image, steps, methods=self.methods, occlusion_window=occlusion_window))
        inputs = picker.get(picker.dropdown.value)
        self._steps = inputs.steps
        self._side = next(iter(inputs.heat.values())).shape[0]
        controls = {
            "method": widgets.Dropdown(options=list(self.methods), value=self.methods[-1],
                                       description="method",
                                       layout=widgets.Layout(width="300px")),
            "curve": widgets.Dropdown(options=list(MODES), value="deletion",
                                      description="curve", layout=widgets.Layout(width="200px")),
            "step": widgets.IntSlider(value=self._steps // 2, min=0, max=self._steps,
                                      description="step"),
        }
        side = size * 0.8  # the two photo panels are squares of this side (inches)
        width, height = 3 * size + 0.6, side + 0.75  # inches
        figure = Figure(figsize=(width, height), dpi=dpi)
        bottom, top = 0.2 / height, (0.2 + side) / height
        ax_map = figure.add_axes((0.1 / width, bottom, side / width, top - bottom))
        ax_step = figure.add_axes(((0.25 + side) / width, bottom, side / width, top - bottom))
        left = (0.85 + 2 * side) / width  # room for the curve panel's tick labels
        ax_curve = figure.add_axes((left, 0.5 / height, 0.985 - left, top - 0.5 / height))
        extent = photo_extent(inputs.photo)
        self._photo = ax_map.imshow(inputs.photo)
        self._heat = ax_map.imshow(np.zeros((self._side, self._side, 4)), extent=extent,
                                   interpolation="nearest", animated=True)
        self._partial = ax_step.imshow(inputs.photo, animated=True)
        for ax in (ax_map, ax_step):
            ax.set_axis_off()
        x = np.linspace(0, 1, self._steps + 1)
        self._random_line = ax_curve.plot(x, x, color="0.45", linestyle="--", linewidth=1.2,
                                          label="random", animated=True)[0]
        self._lines = {mode: ax_curve.plot(x, x, linewidth=1.6, linestyle=style, label=mode,
                                           animated=True)[0]
                       for mode, style in zip(MODES, ("-", ":"), strict=True)}
        self._marker = ax_curve.plot([0], [0], "o", color="black", markersize=6,
                                     animated=True)[0]
        ax_curve.set_xlim(0, 1)
        ax_curve.set_ylim(0, 1.02)
        ax_curve.set_xlabel("fraction of patches", fontsize=8)
        ax_curve.set_ylabel("class probability", fontsize=8)
        ax_curve.tick_params(labelsize=7)
        ax_curve.grid(alpha=0.3)
        ax_curve.legend(handles=[*self._lines.values(), self._random_line], fontsize=7,
                        loc="upper right")
        self._titles = tuple(ax.set_title("", fontsize=9, animated=True)
                             for ax in (ax_map, ax_step, ax_curve))
        self._colours = method_colours(self.methods)
        self._canvas = FigureCanvasAgg(figure)
        self._background = None
        self._backgrounds: dict[str, Any] = {}  # photo -> its background (photo, axes, ticks)
        self._shown_photo = None
        self.last_probability = float("nan")
        super().__init__(controls, figure, photos=picker, dpi=dpi, image_format="jpeg")
        self.image.width, self.image.height = self._canvas.get_width_height()

    def inputs(self, name: str) -> FaithfulnessInputs:
        """The precomputed inputs of photo ``name``, computing them on first use (slow)."""
        return self._photos.get(name)

    def _draw(self, image: str, method: str, curve: str, step: int) -> str:
        inputs = self.inputs(image)  # precomputed unless the photo is new
        if self._shown_photo != image:  # another photo: its background, drawn once per photo
            self._photo.set_data(inputs.photo)
            if image not in self._backgrounds:
                self._canvas.draw()
                self._backgrounds[image] = self._canvas.copy_from_bbox(self.figure.bbox)
            self._background = self._backgrounds[image]
            self._shown_photo = image
        self._heat.set_data(inputs.heat[method])
        patches = len(inputs.orders[method])
        moved = inputs.orders[method][: step * patches // inputs.steps]  # patches moved so far
        keep = np.ones(patches, dtype=bool) if curve == "deletion" else np.zeros(patches, bool)
        keep[moved] = curve != "deletion"
        pixel = inputs.photo.shape[0] // self._side
        mask = np.kron(keep.reshape(self._side, self._side), np.ones((pixel, pixel), bool))
        self._partial.set_data(np.where(mask[..., None], inputs.photo, inputs.removed[curve]))
        colour = self._colours[method]
        for mode, line in self._lines.items():
            line.set_ydata(inputs.curves[method, mode])
            line.set_color(colour)
        random = ("random", "deletion") if curve == "deletion" else ("random", "insertion")
        self._random_line.set_ydata(inputs.curves[random] if random in inputs.curves
                                    else np.full(inputs.steps + 1, np.nan))
        probability = float(inputs.curves[method, curve][step])
        self._marker.set_data([step / inputs.steps], [probability])
        self.last_probability = probability
        verb = "removed" if curve == "deletion" else "revealed"
        share = step / inputs.steps
        self._titles[0].set_text(f"{method}\n{inputs.label} ({inputs.probability:.0%})")
        self._titles[1].set_text(f"{curve}: {share:.0%} of patches {verb}\np = {probability:.2f}")
        auc = inputs.aucs[method, curve]
        self._titles[2].set_text(f"AUC: deletion {inputs.aucs[method, 'deletion']:.3f} · "
                                 f"insertion {inputs.aucs[method, 'insertion']:.3f}")
        self._canvas.restore_region(self._background)
        for artist in (self._heat, self._partial, self._random_line, *self._lines.values(),
                       self._marker, *self._titles):
            self.figure.draw_artist(artist)
        return (f"{image} · {method} · {curve} step {step}/{inputs.steps} ({share:.0%} of "
                f"patches {verb}) · p = {probability:.3f} · AUC {auc:.3f}")

    def _frame(self) -> bytes:
        """The blitted canvas as JPEG (a few times faster to encode than PNG)."""
        from PIL import Image

        rgba = np.asarray(self._canvas.buffer_rgba())  # (H, W, 4) uint8
        buffer = io.BytesIO()
        Image.fromarray(rgba[..., :3]).save(buffer, format="jpeg", quality=90)
        return buffer.getvalue()
