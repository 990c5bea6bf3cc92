"""Notebook 04's attention explorer: pick a layer, a head and a query patch (or the class
token) and see where that query looks, over the photo.

All attention maps are computed once when the explorer is built (one forward pass, then a
single reshape of every layer's (heads, N, N) matrix into per-query maps over the patch
grid). A slider move only indexes that array, updates the overlay artist with ``set_data``,
redraws just the artists that changed over a cached background (matplotlib blitting), sends
the frame to an ``ipywidgets.Image``, and then writes the status text (after the image, so a
browser test can wait for it).

Why an ``Image`` widget and not ``display(fig)`` inside an ``Output`` widget: nbclient (used by
``nbconvert --execute`` and ``make run``) mimics the Output widget by sending every output back
to the kernel, and with a figure-sized PNG that stalls each such cell for the whole cell
timeout. The Image widget needs no mimic, and blitting skips redrawing the photo.

Example::

    explorer = AttentionExplorer(photo, attentions)   # attentions: depth x (1, heads, N, N)
    explorer                                          # shows the widget
    explorer.redraw(layer=11, head=2, query="cls")    # or query=75, a patch index

It starts at layer 0, head 0, with the class token as the query.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from helpers.explorers.base import STATUS_CLASS
from helpers.figures.maps import overlay_alpha

__all__ = ["AttentionExplorer", "attention_maps_array"]

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


class AttentionExplorer:
    """Sliders for layer, head and query patch, plus a class-token switch, over one photo.

    Args:
        image: (H, W, 3) photo in [0, 1] (e.g. from
            :func:`helpers.figures.vit.pixels_to_image`), the crop the model saw.
        attentions: As for :func:`attention_maps_array`.
        index: Which image of the batch.
        size: Figure side in inches.

    Attributes:
        widget: The ``ipywidgets.VBox`` to display.
        layer, head, query: The ``IntSlider`` widgets (query counts patches from 0).
        use_cls: The ``Checkbox`` that makes the class token the query.
        image: The ``Image`` widget showing the figure.
        figure: The matplotlib figure (photo, overlay, query box).
        status: ``Label`` (CSS class :data:`helpers.explorers.base.STATUS_CLASS`) written after
            every redraw: what is shown, the brightest patch's share of the attention, and
            the redraw time.
        maps: (depth, heads, 1 + N, g, g) maps, each scaled to its own maximum.
        last_ms: Milliseconds the last redraw took.
    """

    def __init__(self, image: np.ndarray, attentions: Sequence[torch.Tensor] | torch.Tensor,
                 index: int = 0, size: float = 4.2) -> None:
        import ipywidgets as widgets

        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"image must have shape (H, W, 3); got {image.shape}.")
        raw = attention_maps_array(attentions, index)  # (depth, heads, 1 + N, g, g)
        peak = raw.max(axis=(-2, -1), keepdims=True)  # (depth, heads, 1 + N, 1, 1)
        self.maps = raw / np.maximum(peak, 1e-12)  # scaled once, here, not per redraw
        self._alphas = overlay_alpha(self.maps)  # (depth, heads, 1 + N, g, g) opacities
        self._peak = peak[..., 0, 0]  # (depth, heads, 1 + N)
        depth, heads, tokens, grid, _ = self.maps.shape
        self.grid = grid
        self.last_ms = 0.0
        height, width = image.shape[:2]
        self._cell = (height / grid, width / grid)

        self.figure = Figure(figsize=(size, size), dpi=72, layout="constrained")
        self._canvas = FigureCanvasAgg(self.figure)
        ax = self.figure.subplots()
        ax.imshow(image)
        self._overlay = ax.imshow(self.maps[0, 0, 0], cmap="inferno", alpha=self._alphas[0, 0, 0],
                                  vmin=0, vmax=1, extent=(0, width, height, 0),
                                  interpolation="nearest", animated=True)
        self._box = Rectangle((0, 0), self._cell[1], self._cell[0], fill=False,
                              edgecolor="cyan", linewidth=2, animated=True)
        ax.add_patch(self._box)
        ax.set_axis_off()
        self._canvas.draw()  # the photo, once; the animated artists are left out
        self._background = self._canvas.copy_from_bbox(self.figure.bbox)

        self.layer = widgets.IntSlider(value=0, min=0, max=depth - 1, description="layer",
                                       continuous_update=True)
        self.head = widgets.IntSlider(value=0, min=0, max=heads - 1, description="head",
                                      continuous_update=True)
        centre = (grid // 2) * grid + grid // 2
        self.query = widgets.IntSlider(value=centre, min=0, max=tokens - 2,
                                       description="query patch", continuous_update=True)
        self.use_cls = widgets.Checkbox(value=True, description="query = CLS token", indent=False)
        pixels = self._canvas.get_width_height()
        self.image = widgets.Image(format="jpeg", width=pixels[0], height=pixels[1])
        self.status = widgets.Label(value="")
        self.status.add_class(STATUS_CLASS)  # the browser tests find every explorer by it
        self.widget = widgets.VBox([widgets.HBox([self.layer, self.head]),
                                    widgets.HBox([self.query, self.use_cls]),
                                    self.image, self.status])
        self._holding = False
        for control in (self.layer, self.head, self.query, self.use_cls):
            control.observe(self._on_change, names="value")
        self.redraw()

    # ------------------------------------------------------------------ public

    def redraw(self, layer: int | None = None, head: int | None = None,
               query: int | str | None = None) -> float:
        """Set any of the controls (as moving them would) and redraw once.

        Args:
            layer: Layer index; None keeps the current one.
            head: Head index; None keeps the current one.
            query: Query patch index (0 .. N-1), ``"cls"`` for the class token, or None to
                keep the current query.

        Returns:
            Milliseconds the redraw took (also in :attr:`last_ms` and the status text).

        Raises:
            ValueError: an index outside its slider's range, or an unknown query.
        """
        for name, value, slider in (("layer", layer, self.layer), ("head", head, self.head),
                                    ("query", None if query == "cls" else query, self.query)):
            if value is not None and not (isinstance(value, int)
                                          and slider.min <= value <= slider.max):
                raise ValueError(f"{name} must be an integer in [{slider.min}, {slider.max}]"
                                 + (' or "cls"' if name == "query" else "") + f"; got {value!r}.")
        with self._hold():
            if layer is not None:
                self.layer.value = layer
            if head is not None:
                self.head.value = head
            if query is not None:
                self.use_cls.value = query == "cls"
                if query != "cls":
                    self.query.value = query
        return self._draw()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # ------------------------------------------------------------------ internals

    @contextmanager
    def _hold(self):
        self._holding = True
        try:
            yield
        finally:
            self._holding = False

    def _on_change(self, change: dict) -> None:
        if self._holding:
            return
        if change["owner"] is self.query and self.use_cls.value:
            with self._hold():  # moving the query slider means: look from that patch
                self.use_cls.value = False
        self._draw()

    def _draw(self) -> float:
        start = time.perf_counter()
        layer, head = self.layer.value, self.head.value
        token = 0 if self.use_cls.value else 1 + self.query.value
        self._overlay.set_data(self.maps[layer, head, token])  # (g, g): a view, no copy
        self._overlay.set_alpha(self._alphas[layer, head, token])  # (g, g)
        if token:
            row, col = divmod(token - 1, self.grid)
            self._box.set_xy((col * self._cell[1], row * self._cell[0]))
        self._box.set_visible(bool(token))
        self._canvas.restore_region(self._background)  # the photo, drawn once in __init__
        for artist in (self._overlay, self._box):  # text is left to the status line: drawing
            self.figure.draw_artist(artist)        # a changing title costs more than the map
        self.image.value = _jpeg(np.asarray(self._canvas.buffer_rgba()))  # (H, W, 4) uint8
        self.last_ms = (time.perf_counter() - start) * 1000
        who = "CLS" if not token else f"patch {token - 1} (row {row}, col {col})"
        self.status.value = (f"layer {layer} · head {head} · query {who} · brightest patch "
                             f"{self._peak[layer, head, token]:.1%} · drawn in "
                             f"{self.last_ms:.0f} ms")
        return self.last_ms


def _jpeg(rgba: np.ndarray) -> bytes:
    """Encode an (H, W, 4) uint8 frame as JPEG: ~1 ms, a few times faster than PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba[..., :3]).save(buffer, format="jpeg", quality=90)
    return buffer.getvalue()
