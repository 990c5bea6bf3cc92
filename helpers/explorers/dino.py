"""Notebook 07's explorer: pick a photo (or upload one), a map type, a threshold and a head, and
see the map over the photo beside the map alone.

Built on :class:`helpers.explorers.base.Explorer`. The only slow path is a photo the explorer
has not seen yet: one forward pass (:func:`helpers.maps.dino.image_maps`), after which every
picture the controls can ask for is turned into an RGBA array (uint8) at patch resolution,
once: for the masks, one per head and per threshold from 1 % to 100 %. A slider move then only
indexes those arrays and calls ``set_data`` on the two existing image artists.

The threshold slider comes first and counts in whole percent: it has room to move either way
from its start (60 %) whatever the number of heads, and typing a number in its box works.

Example::

    explorer = DinoExplorer(loaded, sample_images())
    explorer                                     # shows the widget
    explorer.set(kind="CLS attention", head=3)    # as moving the controls would
    explorer.set(kind="attention mask", keep=60)  # keep: percent of the attention mass
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from helpers.explorers.base import Explorer
from helpers.explorers.picker import PhotoPicker
from helpers.figures.maps import dim_outside, heat_rgba, photo_extent
from helpers.maps.dino import ImageMaps, image_maps, mass_threshold_mask

__all__ = ["KINDS", "KEEPS", "DinoInputs", "dino_inputs", "DinoExplorer"]

#: The map types of the explorer's "map" dropdown.
KINDS = ("CLS attention", "attention mask", "token norm", "PCA colours", "PCA foreground")
#: The threshold slider's values, in percent of the attention mass a mask keeps.
KEEPS = np.arange(1, 101)

_GREY = np.array([0.82, 0.82, 0.82, 1.0], dtype=np.float32)
_DARK = np.array([0.15, 0.15, 0.15, 1.0], dtype=np.float32)


@dataclass(frozen=True)
class DinoInputs:
    """Everything the explorer can show for one photo, as ready-to-draw RGBA arrays.

    Attributes:
        photo: (H, W, 3) the crop the model saw, in [0, 1].
        over: Map type -> uint8 RGBA drawn over the photo: ``"CLS attention"``
            (heads, g, g, 4), ``"attention mask"`` (len(keeps), heads, g, g, 4), the others
            (g, g, 4).
        alone: Map type -> RGBA drawn on its own, same shapes as ``over``.
        kept: (len(keeps), heads) how many patches each mask keeps.
        foreground: Share of patches in the PCA foreground mask.
    """

    photo: np.ndarray
    over: dict[str, np.ndarray]
    alone: dict[str, np.ndarray]
    kept: np.ndarray
    foreground: float


def _heat(scaled: np.ndarray, cmap: str = "inferno") -> tuple[np.ndarray, np.ndarray]:
    """(over, alone) RGBA of maps already scaled to [0, 1]: (..., g, g) -> (..., g, g, 4)."""
    return heat_rgba(scaled, cmap, alpha=0.75), heat_rgba(scaled, cmap)


def dino_inputs(maps: ImageMaps, index: int = 0, keeps: np.ndarray = KEEPS) -> DinoInputs:
    """Turn one photo's maps into every RGBA picture the explorer can show.

    Args:
        maps: From :func:`helpers.maps.dino.image_maps`.
        index: Which photo of the batch.
        keeps: Thresholds to precompute masks for, in percent of the attention mass.

    Returns:
        The :class:`DinoInputs` of that photo.
    """
    attention = maps.attention[index].numpy()  # (heads, g, g)
    peak = attention.max(axis=(-2, -1), keepdims=True)  # (heads, 1, 1)
    scaled = attention / np.maximum(peak, 1e-12)  # (heads, g, g) in [0, 1]
    heads, side, _ = attention.shape
    att_over, att_alone = _heat(scaled)  # (heads, g, g, 4) each

    flat = attention.reshape(heads, side * side)  # (heads, P)
    masks = np.stack([mass_threshold_mask(flat, keep / 100) for keep in keeps])  # (T, heads, P)
    masks = masks.reshape(len(keeps), heads, side, side)  # (T, heads, g, g)
    mask_alone = np.where(masks[..., None], att_alone[None], _GREY)  # (T, heads, g, g, 4)

    norms = maps.norms[index].numpy()  # (g, g)
    spread = max(float(norms.max() - norms.min()), 1e-12)
    norm_over, norm_alone = _heat((norms - norms.min()) / spread, "viridis")  # (g, g, 4) each

    rgb = maps.rgb[index].numpy().astype(np.float32)  # (g, g, 3)
    rgb_alone = np.concatenate([rgb, np.ones((side, side, 1), np.float32)], axis=-1)
    rgb_over = rgb_alone.copy()
    rgb_over[..., 3] = 0.85
    foreground = maps.foreground[index].numpy()  # (g, g)
    fg_alone = np.where(foreground[..., None], 1.0, _DARK).astype(np.float32)  # (g, g, 4)

    over = {"CLS attention": att_over, "attention mask": dim_outside(masks),
            "token norm": norm_over, "PCA colours": rgb_over,
            "PCA foreground": dim_outside(foreground)}
    alone = {"CLS attention": att_alone, "attention mask": mask_alone,
             "token norm": norm_alone, "PCA colours": rgb_alone, "PCA foreground": fg_alone}
    return DinoInputs(photo=maps.photos[index], over={k: _to_uint8(v) for k, v in over.items()},
                  alone={k: _to_uint8(v) for k, v in alone.items()},
                  kept=masks.sum(axis=(-2, -1)), foreground=float(foreground.mean()))


def _to_uint8(rgba: np.ndarray) -> np.ndarray:
    """Float RGBA in [0, 1] -> uint8 (a quarter of the memory; drawn as is by imshow)."""
    return (np.clip(rgba, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


class DinoExplorer(Explorer):
    """Image picker with upload, map type, threshold slider and head slider over one model.

    Args:
        loaded: A timm ViT from :func:`helpers.models.load` (e.g. DINO).
        photos: Name -> photo (anything :func:`helpers.data.images.load_image` accepts); the
            first one is computed at once, the others when first picked.
        size: Inches per panel.
        dpi: Resolution of the picture sent to the browser.
    """

    def __init__(self, loaded: Any, photos: Mapping[str, Any], size: float = 3.0,
                 dpi: int = 80) -> None:
        import ipywidgets as widgets

        self.loaded = loaded
        picker = PhotoPicker(photos, lambda image: dino_inputs(image_maps(loaded, [image])),
                             width="210px")
        layers = picker.get(picker.dropdown.value)
        heads = layers.over["CLS attention"].shape[0]

        narrow = widgets.Layout(width="210px")
        controls = {
            "kind": widgets.Dropdown(options=KINDS, value="attention mask", description="map",
                                     layout=narrow),
            "keep": widgets.IntSlider(value=60, min=int(KEEPS[0]), max=int(KEEPS[-1]),
                                      description="keep %"),
            "head": widgets.IntSlider(value=0, min=0, max=heads - 1, description="head"),
        }

        figure = Figure(figsize=(2 * size, size + 0.3), dpi=dpi, layout="constrained")
        ax_photo, ax_map = figure.subplots(1, 2)
        self._photo = ax_photo.imshow(layers.photo)
        self._over = ax_photo.imshow(layers.over["CLS attention"][0],
                                     extent=photo_extent(layers.photo), interpolation="nearest")
        self._alone = ax_map.imshow(layers.alone["CLS attention"][0], interpolation="nearest")
        self._titles = (ax_photo.set_title("", fontsize=9), ax_map.set_title("", fontsize=9))
        for ax in (ax_photo, ax_map):
            ax.set_axis_off()
        self._shown_photo = picker.dropdown.value
        super().__init__(controls, figure, photos=picker, dpi=dpi)

    def inputs(self, name: str) -> DinoInputs:
        """The precomputed inputs of photo ``name``, computing them on first use (slow)."""
        return self._photos.get(name)

    # ------------------------------------------------------------------ internals

    def _draw(self, image: str, kind: str, keep: int, head: int) -> str:
        layers = self.inputs(image)  # precomputed unless the photo is new
        t = int(np.searchsorted(KEEPS, keep))  # index of the slider's value
        over, alone = layers.over[kind], layers.alone[kind]
        if kind == "CLS attention":
            over, alone = over[head], alone[head]
        elif kind == "attention mask":
            over, alone = over[t, head], alone[t, head]
        if self._shown_photo != image:
            self._photo.set_data(layers.photo)
            self._shown_photo = image
        self._over.set_data(over)
        self._alone.set_data(alone)
        detail = {
            "CLS attention": f"head {head}: class token -> patches",
            "attention mask": f"head {head}: {layers.kept[t, head]} patches hold "
                              f"{KEEPS[t]}% of the mass",
            "token norm": "length of each patch token",
            "PCA colours": "first 3 principal components as RGB",
            "PCA foreground": f"first component > 0: {layers.foreground:.0%} of patches",
        }[kind]
        self._titles[0].set_text(f"{image}: {kind}")
        self._titles[1].set_text(detail)
        return f"{image} · {kind} · {detail}"
