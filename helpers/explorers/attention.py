"""Notebook 04's attention explorer: pick a photo (or upload one), a layer, a head and a query
patch (or the class token) and see where that query looks, over the photo.

Built on :class:`helpers.explorers.base.Explorer`. A photo's maps are computed once, the first
time it is shown (:func:`prepare_attention`: one forward pass inside
:func:`helpers.maps.capture.capture_attention`, then a single reshape of every layer's
(heads, N, N) matrix into per-query maps over the patch grid). A slider move only indexes that
array, updates the overlay artist with ``set_data``, and redraws just the artists that changed
over a cached background (matplotlib blitting) before sending a JPEG frame: this explorer's own
speed-up over the base's PNG of the whole figure.

Why an ``Image`` widget and not ``display(fig)`` inside an ``Output`` widget: nbclient (used by
``nbconvert --execute`` and ``make run``) mimics the Output widget by sending every output back
to the kernel, and with a figure-sized PNG that stalls each such cell for the whole cell
timeout. The Image widget needs no mimic, and blitting skips redrawing the photo.

Example::

    explorer = AttentionExplorer(loaded, sample_images())   # photos: name -> image
    explorer                                                  # shows the widget
    explorer.set(layer=11, head=2, query="cls")               # or query=75, a patch index

    # maps you computed yourself, for one photo (no upload: there is no model to run):
    explorer = AttentionExplorer.from_attentions(photo, attentions)

It starts at layer 0, head 0, with the class token as the query.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from helpers.explorers.base import Explorer
from helpers.explorers.picker import PhotoPicker
from helpers.figures.maps import overlay_alpha, photo_extent

__all__ = ["AttentionInputs", "attention_maps_array", "attention_inputs", "prepare_attention",
           "AttentionExplorer"]


def attention_maps_array(attentions: Sequence[torch.Tensor] | torch.Tensor, index: int = 0
                         ) -> np.ndarray:
    """Every layer's attention for one image, as per-query maps over the patch grid.

    Args:
        attentions: ``depth`` tensors of shape (B, heads, 1 + N, 1 + N) (what
            :func:`helpers.maps.capture.capture_attention` gives), or one tensor of shape
            (depth, heads, 1 + N, 1 + N); token 0 is the class token, N a square number.
        index: Which image of the batch.

    Returns:
        (depth, heads, 1 + N, g, g) float32: entry [l, h, q] is how query token q attends
        to the N patches (the class token's own share is left out), laid out on the g x g grid.
    """
    if isinstance(attentions, torch.Tensor):
        if attentions.ndim != 4:
            raise ValueError(f"attentions must have shape (depth, heads, N, N) or be a list of "
                             f"(B, heads, N, N); got {tuple(attentions.shape)}.")
        stacked = attentions  # (depth, heads, N, N)
    else:
        if not attentions:
            raise ValueError("attentions is empty: run a forward pass inside capture_attention.")
        shapes = {tuple(a.shape) for a in attentions}
        if len(shapes) != 1 or len(next(iter(shapes))) != 4:
            raise ValueError(f"attentions must be tensors of one shape (B, heads, N, N); got "
                             f"{sorted(shapes)}.")
        batch = next(iter(shapes))[0]
        if not 0 <= index < batch:
            raise ValueError(f"index must be in [0, {batch}); got {index}.")
        stacked = torch.stack([a[index] for a in attentions])  # (depth, heads, N, N)
    depth, heads, tokens, keys = stacked.shape
    grid = math.isqrt(tokens - 1)
    if tokens != keys or grid * grid != tokens - 1:
        raise ValueError(f"attention matrices must be (1 + g², 1 + g²) with a class token "
                         f"first; got ({tokens}, {keys}).")
    patches = stacked.detach().cpu().float()[..., 1:]  # (depth, heads, 1 + N, N)
    return patches.reshape(depth, heads, tokens, grid, grid).numpy()


@dataclass(frozen=True)
class AttentionInputs:
    """One photo's attention, ready to draw.

    Attributes:
        photo: (H, W, 3) the crop the model saw, in [0, 1].
        maps: (depth, heads, 1 + N, g, g) per-query maps, each scaled to its own maximum.
        alphas: Same shape: the overlay's opacity per patch.
        peak: (depth, heads, 1 + N) each map's largest share before scaling.
    """

    photo: np.ndarray
    maps: np.ndarray
    alphas: np.ndarray
    peak: np.ndarray


def attention_inputs(image: np.ndarray, attentions: Sequence[torch.Tensor] | torch.Tensor,
                   index: int = 0) -> AttentionInputs:
    """Scale one photo's captured attention for drawing (see :func:`attention_maps_array`).

    Args:
        image: (H, W, 3) photo in [0, 1], the crop the model saw (e.g. from
            :func:`helpers.data.preprocessing.pixels_to_image`).
        attentions: As for :func:`attention_maps_array`.
        index: Which image of the batch.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must have shape (H, W, 3); got {image.shape}.")
    raw = attention_maps_array(attentions, index)  # (depth, heads, 1 + N, g, g)
    peak = raw.max(axis=(-2, -1), keepdims=True)  # (depth, heads, 1 + N, 1, 1)
    maps = raw / np.maximum(peak, 1e-12)  # scaled once, here, not per redraw
    return AttentionInputs(photo=image, maps=maps, alphas=overlay_alpha(maps), peak=peak[..., 0, 0])


def prepare_attention(loaded: Any, image: Any) -> AttentionInputs:
    """The slow path, once per photo: one forward pass that captures every layer's attention.

    Args:
        loaded: What :func:`helpers.models.load` returned.
        image: Anything :func:`helpers.data.images.load_image` accepts.
    """
    from helpers.data.preprocessing import pixels_to_image
    from helpers.maps.capture import capture_attention

    pixels = loaded.batch([image])  # (1, 3, H, W)
    with torch.inference_mode(), capture_attention(loaded) as attentions:
        loaded.logits(pixels)
    return attention_inputs(pixels_to_image(pixels[0], loaded.preprocess), attentions)


class AttentionExplorer(Explorer):
    """Sliders for layer, head and query patch, a class-token switch and a photo picker.

    Args:
        loaded: A model from :func:`helpers.models.load`.
        photos: Name -> photo (anything :func:`helpers.data.images.load_image` accepts); the
            first is computed at once, the others when first picked.
        size: Figure side in inches.

    Attributes:
        layer, head, query: The ``IntSlider`` widgets (query counts patches from 0).
        use_cls: The ``Checkbox`` that makes the class token the query.
        maps: (depth, heads, 1 + N, g, g) maps of the photo shown, each scaled to its maximum.
    """

    def __init__(self, loaded: Any, photos: Mapping[str, Any], size: float = 4.2) -> None:
        self._build(PhotoPicker(photos, lambda image: prepare_attention(loaded, image)), size)

    @classmethod
    def from_attentions(cls, image: np.ndarray, attentions: Sequence[torch.Tensor] | torch.Tensor,
                        index: int = 0, size: float = 4.2, name: str = "photo"
                        ) -> AttentionExplorer:
        """An explorer of attention you captured yourself, for one photo (no upload).

        Args:
            image: (H, W, 3) photo in [0, 1], the crop the model saw.
            attentions: As for :func:`attention_maps_array`.
            index: Which image of the batch.
            size: Figure side in inches.
            name: The photo's name in the picker.
        """
        view = attention_inputs(image, attentions, index)
        explorer = cls.__new__(cls)
        explorer._build(PhotoPicker({name: view}, lambda same: same, upload=False), size)
        return explorer

    def inputs(self, name: str) -> AttentionInputs:
        """The precomputed inputs of photo ``name``, computing them on first use (slow)."""
        return self._photos.get(name)

    @property
    def maps(self) -> np.ndarray:
        """(depth, heads, 1 + N, g, g) maps of the photo shown."""
        return self.inputs(self.picker.value).maps

    # ------------------------------------------------------------------ internals

    def _build(self, photos: PhotoPicker, size: float) -> None:
        import ipywidgets as widgets

        first = photos.get(photos.dropdown.value)
        depth, heads, tokens, grid, _ = first.maps.shape
        self.grid = grid
        self.figure = Figure(figsize=(size, size), dpi=72, layout="constrained")
        self._canvas = FigureCanvasAgg(self.figure)
        ax = self.figure.subplots()
        height, width = first.photo.shape[:2]
        extent = photo_extent(first.photo)  # photo, maps and the query box share these
        self._origin = (extent[0], extent[3])  # the top-left corner of the photo
        self._photo = ax.imshow(first.photo, extent=extent)
        self._overlay = ax.imshow(first.maps[0, 0, 0], cmap="inferno", alpha=first.alphas[0, 0, 0],
                                  vmin=0, vmax=1, extent=extent, interpolation="nearest",
                                  animated=True)
        self._cell = (height / grid, width / grid)
        self._box = Rectangle(self._origin, self._cell[1], self._cell[0], fill=False,
                              edgecolor="cyan", linewidth=2, animated=True)
        ax.add_patch(self._box)
        ax.set_axis_off()
        self._shown_photo = None  # the background (the photo alone) is cached per photo

        self.layer = widgets.IntSlider(value=0, min=0, max=depth - 1, description="layer")
        self.head = widgets.IntSlider(value=0, min=0, max=heads - 1, description="head")
        centre = (grid // 2) * grid + grid // 2
        self.query = widgets.IntSlider(value=centre, min=0, max=tokens - 2,
                                       description="query patch")
        self.use_cls = widgets.Checkbox(value=True, description="query = CLS token", indent=False)
        controls = {"layer": self.layer, "head": self.head, "query": self.query,
                    "use_cls": self.use_cls}
        super().__init__(controls, self.figure, photos=photos, image_format="jpeg")
        pixels = self._canvas.get_width_height()
        self.image.width, self.image.height = pixels

    def _assign(self, name: str, value: Any) -> None:
        if name != "query":
            super()._assign(name, value)
            return
        if value == "cls":
            self.use_cls.value = True
            return
        if not (isinstance(value, int) and self.query.min <= value <= self.query.max):
            raise ValueError(f'query must be an integer in [{self.query.min}, {self.query.max}] '
                             f'or "cls"; got {value!r}.')
        self.use_cls.value = False
        self.query.value = value

    def _control_changed(self, name: str) -> None:
        if name == "query":  # moving the query slider means: look from that patch
            self.use_cls.value = False

    def _draw(self, layer: int, head: int, query: int, use_cls: bool, image: str) -> str:
        view = self.inputs(image)
        if self._shown_photo != image:  # a new photo: draw it once and keep it as background
            self._photo.set_data(view.photo)
            self._canvas.draw()
            self._background = self._canvas.copy_from_bbox(self.figure.bbox)
            self._shown_photo = image
        token = 0 if use_cls else 1 + query
        self._overlay.set_data(view.maps[layer, head, token])  # (g, g): a view, no copy
        self._overlay.set_alpha(view.alphas[layer, head, token])  # (g, g)
        if token:
            row, col = divmod(token - 1, self.grid)
            self._box.set_xy((self._origin[0] + col * self._cell[1],
                              self._origin[1] + row * self._cell[0]))
        self._box.set_visible(bool(token))
        self._canvas.restore_region(self._background)  # the photo, drawn once per photo
        for artist in (self._overlay, self._box):  # text is left to the status line: drawing
            self.figure.draw_artist(artist)        # a changing title costs more than the map
        who = "CLS" if not token else f"patch {token - 1} (row {row}, col {col})"
        return (f"layer {layer} · head {head} · query {who} · brightest patch "
                f"{view.peak[layer, head, token]:.1%}")  # the photo's name is in the picker

    def _frame(self) -> bytes:
        """The blitted canvas as JPEG: ~1 ms, a few times faster than PNG."""
        from PIL import Image

        rgba = np.asarray(self._canvas.buffer_rgba())  # (H, W, 4) uint8
        buffer = io.BytesIO()
        Image.fromarray(rgba[..., :3]).save(buffer, format="jpeg", quality=90)
        return buffer.getvalue()
