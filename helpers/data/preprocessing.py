"""What an image processor does, one stage at a time, with the numbers read from it.

A Hugging Face image processor (``ViTImageProcessor``, ``AutoImageProcessor``) turns a photo
into the (3, H, W) tensor a model expects: resize, (maybe) center-crop, rescale to [0, 1],
normalise with a mean and standard deviation. :func:`processor_stages` redoes those steps
with ``torchvision.transforms.v2.functional``, taking every number from the processor's
own attributes, and keeps each intermediate image, so a notebook can show and check them.

:class:`PreprocessingRecipe` puts three libraries' descriptions of preprocessing side by side:
a Hugging Face processor, a torchvision weights preset (``weights.transforms()``) and a timm
data config (``timm.data.resolve_data_config``) or Compose. :func:`processor_from_recipe`
builds the Hugging Face processor that follows any of them.

:func:`pixels_to_image` goes the other way: preprocessed pixels back to the photo the model
saw, for drawing. (The stages as a figure: :func:`helpers.figures.preprocessing.stages_figure`.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from helpers.shapes import require_nonempty

__all__ = [
    "Stage",
    "PreprocessingRecipe",
    "interpolation_name",
    "processor_stages",
    "recipe_of",
    "recipes_markdown",
    "processor_from_recipe",
    "processor_from_timm_config",
    "pixels_to_image",
]


@dataclass
class Stage:
    """One step of preprocessing.

    Attributes:
        name: Short name, e.g. ``"resize"``.
        tensor: (3, H, W) image after this step (uint8 before rescaling, float after).
        note: What the step did, with its numbers.
    """

    name: str
    tensor: torch.Tensor
    note: str


@dataclass(frozen=True)
class PreprocessingRecipe:
    """A preprocessing recipe in one library-neutral form.

    Attributes:
        name: Where it came from.
        resize: ``(height, width)`` for an exact size, or one int: the shorter side's length
            (the longer side keeps the aspect ratio).
        crop: ``(height, width)`` of the center crop, or None.
        interpolation: e.g. ``"bilinear"``.
        mean: Per-channel mean subtracted after scaling to [0, 1].
        std: Per-channel standard deviation divided by.
    """

    name: str
    resize: tuple[int, int] | int
    crop: tuple[int, int] | None
    interpolation: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def describe_resize(self) -> str:
        """``"224 x 224"`` or ``"shorter side 256"``."""
        if isinstance(self.resize, int):
            return f"shorter side {self.resize}"
        return f"{self.resize[0]} x {self.resize[1]}"

    def describe_crop(self) -> str:
        """``"224 x 224"`` or ``"none"``."""
        return "none" if self.crop is None else f"{self.crop[0]} x {self.crop[1]}"


def _get(size: Any, key: str) -> Any:
    """A field of a size spec: transformers 5 ``SizeDict`` (attributes) or a plain dict."""
    if size is None:
        return None
    if isinstance(size, Mapping):
        return size.get(key)
    return getattr(size, key, None)


def interpolation_name(resample: Any) -> str:
    """Lower-case interpolation name (``"bilinear"``, ``"bicubic"``...) of a PIL resample code,
    a PIL ``Resampling`` member, a torchvision ``InterpolationMode`` or a string."""
    if hasattr(resample, "value") and isinstance(resample.value, str):  # InterpolationMode
        return resample.value
    if isinstance(resample, str):
        return resample.lower()
    return Image.Resampling(int(resample)).name.lower()


def _resize_of(size: Any) -> tuple[int, int] | int:
    """``(height, width)`` or the shorter side, from a processor's ``size``."""
    height, width, shortest = _get(size, "height"), _get(size, "width"), _get(size, "shortest_edge")
    if height and width:
        return int(height), int(width)
    if shortest:
        return int(shortest)
    raise ValueError(f"processor.size must give height and width, or shortest_edge; got {size}.")


def _crop_spec(processor: Any) -> tuple[int, int] | None:
    if not getattr(processor, "do_center_crop", False):
        return None
    crop = processor.crop_size
    return int(_get(crop, "height")), int(_get(crop, "width"))


def processor_stages(processor: Any, image: Image.Image) -> list[Stage]:
    """Redo a Hugging Face image processor's steps, keeping every intermediate image.

    Args:
        processor: A ``ViTImageProcessor`` (or any processor with ``do_resize``, ``size``,
            ``resample``, ``do_center_crop``, ``crop_size``, ``do_rescale``,
            ``rescale_factor``, ``do_normalize``, ``image_mean``, ``image_std``).
        image: An RGB PIL image.

    Returns:
        Stages from ``"input"`` to the final one, whose (3, H, W) tensor equals
        ``processor(images=image, return_tensors="pt")["pixel_values"][0]``.
    """
    import torchvision.transforms.v2.functional as F

    if not isinstance(image, Image.Image):
        raise ValueError(f"image must be a PIL image; got {type(image).__name__}.")
    x = F.pil_to_tensor(image.convert("RGB"))  # (3, H, W) uint8
    stages = [Stage("input", x, f"{x.shape[2]} x {x.shape[1]} photo, uint8 0..255")]
    if processor.do_resize:
        resize = _resize_of(processor.size)
        size = [resize] if isinstance(resize, int) else list(resize)
        text = f"shorter side {resize}" if isinstance(resize, int) else \
            f"{resize[0]} x {resize[1]}"
        mode = interpolation_name(processor.resample)
        if _resizes_with_pil(processor):  # transformers 4's slow processors: PIL, in uint8
            array = np.asarray(image.convert("RGB"))  # (H, W, 3) uint8
            resized = processor.resize(array, size=processor.size, resample=processor.resample,
                                       input_data_format="channels_last")  # (h, w, 3)
            x = torch.from_numpy(np.ascontiguousarray(resized)).permute(2, 0, 1)  # (3, h, w)
        else:
            x = F.resize(x, size, interpolation=F.InterpolationMode(mode), antialias=True)
        stages.append(Stage("resize", x, f"resize to {text} ({mode}) -> "
                                         f"{x.shape[2]} x {x.shape[1]}"))  # (3, h, w)
    crop = _crop_spec(processor)
    if crop is not None:
        height, width = x.shape[-2:]
        if crop[0] <= height and crop[1] <= width:
            # Hugging Face rounds the offset down; torchvision's center_crop rounds it to
            # the nearest pixel, so the two can differ by a one-pixel shift.
            top, left = int((height - crop[0]) / 2.0), int((width - crop[1]) / 2.0)
            x = F.crop(x, top, left, crop[0], crop[1])  # (3, crop_h, crop_w)
        else:  # smaller than the crop: both libraries pad with zeros
            x = F.center_crop(x, list(crop))  # (3, crop_h, crop_w)
        stages.append(Stage("center crop", x, f"center-crop {crop[0]} x {crop[1]}"))
    x = x.float()  # (3, h, w)
    if processor.do_rescale:
        factor = float(processor.rescale_factor)
        x = x * factor
        stages.append(Stage("rescale", x, f"multiply by {factor:.6g} (1/{1 / factor:.0f}) "
                                          "-> values 0..1"))
    if processor.do_normalize:
        mean, std = list(processor.image_mean), list(processor.image_std)
        x = F.normalize(x, mean=mean, std=std)  # (3, h, w)
        stages.append(Stage("normalize", x, f"(x - mean) / std, mean={_fmt(mean)}, "
                                            f"std={_fmt(std)}"))
    return stages


def _transformers_major() -> int:
    import transformers

    return int(transformers.__version__.split(".")[0])


def _resizes_with_pil(processor: Any) -> bool:
    """Whether ``processor`` resizes a PIL image (transformers 4's "slow" processors) rather
    than a tensor with torchvision (transformers 5, and 4's ``...Fast`` processors)."""
    return _transformers_major() < 5 and not type(processor).__name__.endswith("Fast")


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{float(v):.3g}" for v in values) + ")"


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _pair(size: Any) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    size = tuple(int(v) for v in size)
    return (size[0], size[0]) if len(size) == 1 else (size[0], size[1])


def _recipe_of_compose(transform: Any, name: str) -> PreprocessingRecipe:
    """The recipe of a torchvision ``Compose`` of Resize, CenterCrop, ToTensor, Normalize
    (timm's evaluation transform is one)."""
    resize: tuple[int, int] | int | None = None
    crop, mode, mean, std = None, "bilinear", None, None
    for step in transform.transforms:
        kind = type(step).__name__
        if kind == "Resize":
            size = step.size
            if isinstance(size, int) or len(size) == 1:
                resize = int(size) if isinstance(size, int) else int(size[0])
            else:
                resize = _pair(size)
            mode = interpolation_name(step.interpolation)
        elif kind == "CenterCrop":
            crop = _pair(step.size)
        elif kind == "Normalize":
            mean, std = _floats(step.mean), _floats(step.std)
    if resize is None or mean is None:
        raise ValueError("the Compose has no Resize or no Normalize step; cannot describe it.")
    return PreprocessingRecipe(name or "torchvision Compose", resize, crop, mode, mean, std)


def recipe_of(obj: Any, name: str = "") -> PreprocessingRecipe:
    """Describe a preprocessing recipe, whichever library it comes from.

    Args:
        obj: A Hugging Face image processor; a torchvision weights preset
            (``weights.transforms()``, an ``ImageClassification``); a torchvision ``Compose``
            (e.g. timm's ``create_transform`` result, a stand-in's ``loaded.preprocess``);
            or a timm data config dict (``timm.data.resolve_data_config``).
        name: Label for tables; default the object's kind.

    Raises:
        ValueError: ``obj`` is none of these.
    """
    if isinstance(obj, Mapping) and "input_size" in obj:  # timm data config
        side = int(obj["input_size"][-1])
        crop_pct = float(obj.get("crop_pct", 1.0))
        return PreprocessingRecipe(name or "timm data config", int(side / crop_pct),
                                   (side, side),
                                   interpolation_name(obj.get("interpolation", "bilinear")),
                                   _floats(obj["mean"]), _floats(obj["std"]))
    if hasattr(obj, "resize_size") and hasattr(obj, "crop_size"):  # torchvision preset
        resize = obj.resize_size
        return PreprocessingRecipe(name or type(obj).__name__,
                                   int(resize[0]) if len(resize) == 1 else _pair(resize),
                                   _pair(obj.crop_size), interpolation_name(obj.interpolation),
                                   _floats(obj.mean), _floats(obj.std))
    if type(obj).__name__ == "Compose" and hasattr(obj, "transforms"):
        return _recipe_of_compose(obj, name)
    if hasattr(obj, "image_mean") and hasattr(obj, "size"):  # Hugging Face processor
        return PreprocessingRecipe(name or type(obj).__name__, _resize_of(obj.size),
                                   _crop_spec(obj), interpolation_name(obj.resample),
                                   _floats(obj.image_mean), _floats(obj.image_std))
    raise ValueError(f"obj must be a Hugging Face image processor, a torchvision weights "
                     f"preset or Compose, or a timm data config dict; got {type(obj).__name__}.")


def recipes_markdown(recipes: Sequence[PreprocessingRecipe]) -> str:
    """The recipes as a Markdown table, one column per recipe."""
    header = "| | " + " | ".join(r.name for r in recipes) + " |"
    rows = [("resize", [r.describe_resize() for r in recipes]),
            ("center crop", [r.describe_crop() for r in recipes]),
            ("interpolation", [r.interpolation for r in recipes]),
            ("mean", [_fmt(r.mean) for r in recipes]),
            ("std", [_fmt(r.std) for r in recipes])]
    lines = [header, "|---" * (len(recipes) + 1) + "|"]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return "\n".join(lines)


def processor_from_recipe(recipe: PreprocessingRecipe) -> Any:
    """A Hugging Face image processor that follows ``recipe``.

    transformers 5's ``ViTImageProcessor`` can resize to an exact size or the shorter side
    (``size={"shortest_edge": ...}``) and center-crop (``do_center_crop=True``), so it can do
    what a torchvision or timm recipe says (up to a one-pixel crop offset, see
    :func:`processor_stages`, and PIL vs torch resampling). In transformers 4 it resizes only
    to an exact height and width; a recipe that resizes the shorter side or crops then gets
    ``BitImageProcessor``, which does both in every version.
    """
    from transformers import BitImageProcessor, ViTImageProcessor

    needs_more = isinstance(recipe.resize, int) or recipe.crop is not None
    processor_class = BitImageProcessor if needs_more and _transformers_major() < 5 \
        else ViTImageProcessor
    if isinstance(recipe.resize, int):
        size = {"shortest_edge": recipe.resize}
    else:
        size = {"height": recipe.resize[0], "width": recipe.resize[1]}
    crop = {} if recipe.crop is None else {
        "do_center_crop": True, "crop_size": {"height": recipe.crop[0], "width": recipe.crop[1]}}
    return processor_class(size=size, resample=Image.Resampling[recipe.interpolation.upper()],
                           image_mean=list(recipe.mean), image_std=list(recipe.std), **crop)


def processor_from_timm_config(config: Mapping[str, Any]) -> Any:
    """A Hugging Face image processor that does what a timm data config says.

    timm resizes the shorter side to ``input_size / crop_pct`` and center-crops
    ``input_size``.

    Args:
        config: From ``timm.data.resolve_data_config(model=...)``.
    """
    if "input_size" not in config:
        raise ValueError(f"config must be a timm data config with 'input_size'; got keys "
                         f"{sorted(config)}.")
    return processor_from_recipe(recipe_of(config))


def pixels_to_image(pixels: torch.Tensor, preprocess: Callable | None = None) -> np.ndarray:
    """Turn preprocessed pixels back into a displayable photo, exactly as the model sees it.

    Args:
        pixels: (3, H, W) normalised tensor (one image of a batch).
        preprocess: The transform that made it; when it contains a ``Normalize`` step its
            mean and std are undone. Otherwise the values are rescaled to [0, 1].

    Returns:
        (H, W, 3) float array in [0, 1].
    """
    if pixels.ndim != 3 or pixels.shape[0] != 3:
        raise ValueError(f"pixels must have shape (3, H, W); got {tuple(pixels.shape)}.")
    require_nonempty("pixels", pixels, "(3, H, W)")
    x = pixels.detach().cpu().float()  # (3, H, W)
    normalize = next((t for t in getattr(preprocess, "transforms", [])
                      if hasattr(t, "mean") and hasattr(t, "std")), None)
    if normalize is not None:
        mean = torch.as_tensor(normalize.mean, dtype=x.dtype).reshape(-1, 1, 1)  # (3, 1, 1)
        std = torch.as_tensor(normalize.std, dtype=x.dtype).reshape(-1, 1, 1)  # (3, 1, 1)
        x = x * std + mean
    else:
        x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-12)
    return x.clamp(0, 1).permute(1, 2, 0).numpy()  # (H, W, 3)
