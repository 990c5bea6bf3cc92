"""The common shape of every interactive explorer in the series.

An explorer is a row of controls (sliders, dropdowns), one figure, and a status line.
Everything expensive is computed once, before the explorer is built; moving a control
calls a *draw function* that only re-indexes precomputed arrays and updates existing
matplotlib artists (``set_data``). The figure is rendered to PNG and sent to an
``ipywidgets.Image``; only then is the status line written, so a reader (or a browser
test) that sees the new status knows the new picture is already there.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from typing import Any

from matplotlib.figure import Figure

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
    """Controls, a figure and a status line, redrawn from precomputed data.

    Args:
        controls: Name -> ipywidgets control; each value is passed to ``draw`` by name.
        figure: The figure whose artists ``draw`` updates.
        draw: ``draw(**values) -> str``: update the figure's artists for the control
            values and return a short description for the status line.
        dpi: Resolution of the PNG sent to the browser.

    Attributes:
        widget: The ``ipywidgets.VBox`` to display.
        last_draw_s: Seconds the last redraw took (update + render).
    """

    def __init__(self, controls: Mapping[str, Any], figure: Figure,
                 draw: Callable[..., str], dpi: int = 80) -> None:
        import ipywidgets as widgets

        self.controls = dict(controls)
        self.figure = figure
        self._draw = draw
        self._dpi = dpi
        self.image = widgets.Image(format="png")
        self.status = widgets.HTML()
        self.status.add_class(STATUS_CLASS)
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.widget = widgets.VBox([widgets.HBox(list(self.controls.values())), self.image,
                                    self.status])
        self.last_draw_s = 0.0
        self.redraws = 0
        self.redraw()

    @property
    def values(self) -> dict[str, Any]:
        """Current value of every control, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def _on_change(self, _change: Mapping[str, Any]) -> None:
        self.redraw()

    def redraw(self) -> float:
        """Update the figure for the current control values, send it, then the status.

        Returns:
            Seconds taken.
        """
        start = time.perf_counter()
        description = self._draw(**self.values)
        self.image.value = figure_png(self.figure, self._dpi)
        if self.redraws == 0 and self.figure.get_layout_engine() is not None:
            # The first draw placed the panels; keep them there. Re-running a layout engine
            # on every slider move costs more than drawing the pixels.
            self.figure.set_layout_engine("none")
        self.last_draw_s = time.perf_counter() - start
        self.redraws += 1
        self.status.value = (f"{description} · drawn in {self.last_draw_s * 1000:.0f} ms "
                             f"· redraw {self.redraws}")
        return self.last_draw_s

    def set(self, **values: Any) -> float:
        """Move controls programmatically (as a slider move would) and return redraw seconds."""
        for name, value in values.items():
            if name not in self.controls:
                raise ValueError(f"unknown control {name!r}; this explorer has "
                                 f"{', '.join(self.controls)}.")
            self.controls[name].value = value
        return self.last_draw_s

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
