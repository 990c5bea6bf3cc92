"""The one shape of every interactive explorer in the series.

An explorer is a row of controls (sliders, dropdowns, a photo picker with an upload button),
one picture and a status line. Everything expensive is computed once per photo, before the
first picture; moving a control calls a *draw method* that only re-indexes precomputed arrays
and updates existing matplotlib artists (``set_data``). The figure is sent to an
``ipywidgets.Image``; only then is the status line written, so a reader (or a browser test)
that sees the new status knows the new picture is already there.

Every explorer answers the same calls::

    explorer.set(layer=3, head=1)   # move controls as a reader would; one redraw; seconds
    explorer.status                 # the status line's text
    explorer.figure                 # the matplotlib figure (display or save it anywhere)
    explorer.last_draw_s            # seconds the last redraw took
    explorer.add_photo("mine", "cat.jpg")   # explorers with a photo picker

A subclass builds its figure and controls, passes them to :class:`Explorer`, and implements
``_draw(**values) -> str``. It may override ``_control_changed(name)`` (react to a control
before the redraw, e.g. new class options for a new photo; further control changes made there
do not redraw) and ``_frame()`` (how the figure becomes image bytes; the default renders PNG).
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from matplotlib.figure import Figure

from helpers.explorers.picker import PhotoPicker

__all__ = ["STATUS_CLASS", "figure_png", "Explorer"]

#: CSS class of every explorer's status line (the browser tests look for it).
STATUS_CLASS = "vit-explorer-status"


def figure_png(fig: Figure, dpi: int | None = None) -> bytes:
    """Render a figure to PNG bytes quickly (Agg canvas, fast zlib level; no pyplot).

    Args:
        fig: The figure.
        dpi: Resolution; None keeps the figure's own.
    """
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    if dpi is not None and fig.dpi != dpi:
        fig.set_dpi(dpi)
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3]  # (H, W, 3) uint8
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


class Explorer:
    """Controls, a picture and a status line, redrawn from precomputed data.

    Args:
        controls: Name -> ipywidgets control; each value is passed to the draw method by name.
        figure: The figure whose artists the draw method updates.
        draw: ``draw(**values) -> str``: update the figure's artists for the control values
            and return a short description for the status line. Subclasses leave it None and
            implement ``_draw`` instead.
        photos: A :class:`~helpers.explorers.picker.PhotoPicker`; its dropdown becomes the
            control ``image`` and leads the row of controls, with its upload button beside it.
        dpi: Resolution of the picture sent to the browser.
        image_format: ``"png"`` or ``"jpeg"`` (what ``_frame`` returns).

    Attributes:
        widget: The ``ipywidgets.VBox`` to display (controls, picture, status line).
        controls: Name -> control.
        figure: The matplotlib figure.
        image: The ``ipywidgets.Image`` showing the picture.
        status_widget: The status line (CSS class :data:`STATUS_CLASS`).
        last_draw_s: Seconds the last redraw took (update + render).
        redraws: How many redraws so far.
    """

    def __init__(self, controls: Mapping[str, Any], figure: Figure,
                 draw: Callable[..., str] | None = None, *, photos: PhotoPicker | None = None,
                 dpi: int = 80, image_format: str = "png") -> None:
        import ipywidgets as widgets

        self.controls = dict(controls)
        self.figure = figure
        self._draw_function = draw
        self._photos = photos
        self._dpi = dpi
        self._holding = False
        row = list(self.controls.values())
        if photos is not None:  # photo first: the picker and its upload button lead the row
            self.controls["image"] = photos.dropdown
            row[:0] = [photos.dropdown] + ([photos.upload] if photos.upload is not None else [])
            photos.when_uploaded(self._upload)
        self.image = widgets.Image(format=image_format)
        self.status_widget = widgets.HTML()
        self.status_widget.add_class(STATUS_CLASS)
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        controls_row = widgets.HBox(row)
        controls_row.layout.flex_flow = "row wrap"
        self.widget = widgets.VBox([controls_row, self.image, self.status_widget])
        self.last_draw_s = 0.0
        self.redraws = 0
        self.redraw()

    # ------------------------------------------------------------------ the common face

    @property
    def values(self) -> dict[str, Any]:
        """Current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    @property
    def status(self) -> str:
        """The status line: what is shown, and how long the last redraw took."""
        return self.status_widget.value

    def set(self, **values: Any) -> float:
        """Move controls as a reader would (in the order given), then redraw once.

        Args:
            **values: Control name -> new value.

        Returns:
            Seconds the redraw took.

        Raises:
            ValueError: an unknown control, or a value the control cannot take.
        """
        with self._hold():
            for name, value in values.items():
                before = self.values
                self._assign(name, value)
                for changed, now in self.values.items():  # as the observers would have seen
                    if now != before[changed]:
                        self._control_changed(changed)
        return self.redraw()

    def redraw(self) -> float:
        """Update the figure for the current control values, send it, then the status.

        Returns:
            Seconds taken.
        """
        start = time.perf_counter()
        description = self._draw(**self.values)
        self.image.value = self._frame()
        if self.redraws == 0 and self.figure.get_layout_engine() is not None:
            # The first draw placed the panels; keep them there. Re-running a layout engine
            # on every slider move costs more than drawing the pixels.
            self.figure.set_layout_engine("none")
        self.last_draw_s = time.perf_counter() - start
        self.redraws += 1
        notice = self._photos.take_notice() if self._photos is not None else ""
        self.status_widget.value = ((f"{notice} · " if notice else "") + f"{description} · "
                                    f"drawn in {self.last_draw_s * 1000:.0f} ms · "
                                    f"redraw {self.redraws}")
        return self.last_draw_s

    @property
    def photos(self) -> dict[str, Any]:
        """Name -> photo, in the picker's order (empty without a picker)."""
        return self._photos.photos if self._photos is not None else {}

    @property
    def computed(self) -> int:
        """How many photos have been run through the model (the slow path)."""
        return self._photos.computed if self._photos is not None else 0

    @property
    def picker(self) -> Any:
        """The photo dropdown (None without a picker)."""
        return self._photos.dropdown if self._photos is not None else None

    @property
    def upload(self) -> Any:
        """The upload button (None without one)."""
        return self._photos.upload if self._photos is not None else None

    def add_photo(self, name: str, image: Any) -> str:
        """Add a photo to the picker, compute it once and show it.

        Args:
            name: Label for the picker; made unique if it is taken.
            image: Anything :func:`helpers.data.images.load_image` accepts.

        Returns:
            The label used.
        """
        if self._photos is None:
            raise ValueError("this explorer has no photo picker; build it from a model and "
                             "photos to add more.")
        with self._hold():
            label = self._photos.add(name, image)
            self._control_changed("image")
        self.redraw()
        return label

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # ------------------------------------------------------------------ for subclasses

    def _draw(self, **values: Any) -> str:
        """Update the figure's artists for ``values``; return the status description."""
        if self._draw_function is None:
            raise NotImplementedError("pass draw= or implement _draw in a subclass")
        return self._draw_function(**values)

    def _control_changed(self, name: str) -> None:
        """Called after control ``name`` changed and before the redraw (changes made here to
        other controls do not redraw on their own)."""

    def _frame(self) -> bytes:
        """The picture to send: the figure as PNG."""
        return figure_png(self.figure, self._dpi)

    def _assign(self, name: str, value: Any) -> None:
        """Set one control (from :meth:`set`), with a clear error for a bad name or value."""
        if name not in self.controls:
            raise ValueError(f"unknown control {name!r}; this explorer has "
                             f"{', '.join(self.controls)}.")
        control = self.controls[name]
        if name == "image" and self._photos is not None:
            self._photos.get(value)  # names the photos when the name is unknown
        low, high = getattr(control, "min", None), getattr(control, "max", None)
        if isinstance(control.value, int) and low is not None and not (
                isinstance(value, int) and low <= value <= high):
            raise ValueError(f"{name} must be an integer in [{low}, {high}]; got {value!r}.")
        options = getattr(control, "options", None)
        if options is not None:
            allowed = [o[1] if isinstance(o, tuple) else o for o in options]
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")
        control.value = value

    # ------------------------------------------------------------------ internals

    @contextmanager
    def _hold(self) -> Iterator[None]:
        """Control changes inside do not redraw (the caller redraws once afterwards)."""
        previous, self._holding = self._holding, True
        try:
            yield
        finally:
            self._holding = previous

    def _on_change(self, change: Mapping[str, Any]) -> None:
        if self._holding:
            return
        name = next(n for n, control in self.controls.items() if control is change["owner"])
        with self._hold():
            self._control_changed(name)
        self.redraw()

    def _upload(self, value: Any) -> None:
        """The one upload path: the picker hands the upload here once; it is added (or a
        notice left) with control changes held, then the picture is redrawn once."""
        with self._hold():
            if not self._photos.add_upload(value):
                return
            self._control_changed("image")
        self.redraw()
