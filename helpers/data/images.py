"""Photos for the course: the sample set that ships inside installed packages, and a
forgiving, safe loader for whatever a student points at.

Every image leaves this module as an RGB ``PIL.Image.Image``. Anything that cannot
become one raises ``FileNotFoundError`` (missing path) or ``ValueError`` (everything
else) with a message that names the input and the reason.
"""

from __future__ import annotations

import codecs
import http.client
import io
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

__all__ = [
    "MAX_PIXELS",
    "MAX_DOWNLOAD_BYTES",
    "URL_TIMEOUT_S",
    "sample_images",
    "load_image",
]

#: Largest image accepted (width x height). Checked from the header, before decoding.
MAX_PIXELS = 64_000_000
#: Largest download accepted from a URL.
MAX_DOWNLOAD_BYTES = 25 * 1024 * 1024
#: Seconds before a URL download gives up.
URL_TIMEOUT_S = 10.0


def sample_images() -> dict[str, Image.Image]:
    """The course's sample photos, all shipped inside installed packages (no download).

    Returns:
        Name -> RGB image, in a fixed order: ``chelsea`` (a tabby cat), ``coffee``,
        ``astronaut``, ``rocket`` (from scikit-image) and ``grace_hopper`` (from matplotlib).
    """
    import matplotlib.cbook
    from skimage import data

    photos = {
        "chelsea": data.chelsea(),
        "coffee": data.coffee(),
        "astronaut": data.astronaut(),
        "rocket": data.rocket(),
    }
    images = {name: load_image(array) for name, array in photos.items()}
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as handle:
        images["grace_hopper"] = load_image(handle.read())
    return images


def load_image(src: Any, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Load ``src`` as an RGB PIL image.

    Args:
        src: A file path (``str`` or ``Path``), an ``http(s)://`` URL, raw file bytes,
            a numpy array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) with
            uint8, uint16 or float values in [0, 1], or a PIL image.
        max_pixels: Refuse images larger than this many pixels, read from the file
            header before any decoding.

    Returns:
        An RGB image. Transparency is composited on white, 16-bit values are scaled to
        8 bits, CMYK and palette images are converted, and EXIF rotation is applied.

    Raises:
        FileNotFoundError: ``src`` is a path that does not exist.
        ValueError: ``src`` is anything else that is not a usable image.
    """
    if isinstance(src, Image.Image):
        return _to_rgb(src, _describe(src), max_pixels)
    if isinstance(src, np.ndarray):
        return _from_array(src)
    if isinstance(src, bytes | bytearray | memoryview):
        return _decode(bytes(src), f"<{len(src)} bytes>", max_pixels)
    if isinstance(src, str) and src.lower().startswith(("http://", "https://")):
        return _decode(_download(src), src, max_pixels)
    if isinstance(src, str | Path):
        return _decode(_read_file(Path(src)), str(src), max_pixels)
    raise ValueError(
        f"load_image got a {type(src).__name__}; pass a file path, URL, bytes, "
        "numpy array or PIL image."
    )


def _describe(image: Image.Image) -> str:
    return f"<PIL {image.mode} image {image.width}x{image.height}>"


def _read_file(path: Path) -> bytes:
    try:
        exists = path.exists()
    except (OSError, ValueError) as err:  # e.g. a name too long, or an embedded NUL byte
        raise ValueError(f"{path!s:.200}: not a usable file path ({err}).") from None
    if not exists:
        raise FileNotFoundError(f"{path}: no such file. Check the path (relative paths start at "
                                f"the notebook's folder, {Path.cwd()}).")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not an image file. Name one file inside it.")
    if not path.is_file():  # a FIFO or a device such as /dev/zero would block or never end
        raise ValueError(f"{path}: is not a regular file.")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"{path}: could not be read ({err.strerror or err}).") from None
    if not data:
        raise ValueError(f"{path}: the file is empty (0 bytes).")
    return data


class _RefusedDownload(Exception):
    """A response that arrived but is not an image we accept (message is user-facing)."""


def _download(url: str) -> bytes:
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "vit-notebooks"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT_S) as response:  # noqa: S310
            ctype = response.headers.get_content_type()
            if not ctype.startswith("image/"):
                raise _RefusedDownload(f"{url}: the server sent {ctype!r}, not an image.")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_DOWNLOAD_BYTES:
                raise _RefusedDownload(f"{url}: {int(declared):,} bytes is over the "
                                       f"{MAX_DOWNLOAD_BYTES:,}-byte limit.")
            data = response.read(MAX_DOWNLOAD_BYTES + 1)
    except _RefusedDownload as err:
        raise ValueError(str(err)) from None
    # URLError and timeouts are OSErrors; a malformed address raises ValueError
    # (http.client.InvalidURL), a connection cut mid-body an HTTPException.
    except (OSError, ValueError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", None) or str(err) or type(err).__name__
        raise ValueError(f"{url}: could not download ({reason}). Check the address and "
                         "your connection, or download the file and pass its path.") from None
    if len(data) > MAX_DOWNLOAD_BYTES:
        raise ValueError(f"{url}: over the {MAX_DOWNLOAD_BYTES:,}-byte download limit.")
    if not data:
        raise ValueError(f"{url}: the server sent an empty response.")
    return data


def _decode(data: bytes, name: str, max_pixels: int) -> Image.Image:
    if not data:
        raise ValueError(f"{name}: the data is empty.")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ValueError(f"{name}: the image is too large to open safely.") from None
    except Exception:  # noqa: BLE001 - PIL's format plugins raise many types on corrupt data
        head = data[:16]
        hint = " (it looks like text)" if _looks_like_text(head) else ""
        raise ValueError(f"{name}: not an image file PIL can read{hint}.") from None
    return _to_rgb(image, name, max_pixels)


def _looks_like_text(head: bytes) -> bool:
    """Whether ``head`` reads as printable UTF-8 (a character cut at the end is allowed)."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return bool(text) and all(char.isprintable() or char in "\t\n\r" for char in text)


def _to_rgb(image: Image.Image, name: str, max_pixels: int) -> Image.Image:
    width, height = image.size
    if width < 1 or height < 1:
        raise ValueError(f"{name}: the image has no pixels ({width}x{height}).")
    if width * height > max_pixels:
        raise ValueError(f"{name}: {width}x{height} pixels is over the limit of "
                         f"{max_pixels:,}; resize it first.")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return _convert_mode(image)
    except Image.DecompressionBombError:
        raise ValueError(f"{name}: the image is too large to decode safely.") from None
    except Exception as err:  # noqa: BLE001 - PIL's decoders raise many types on corrupt data
        reason = str(err) or type(err).__name__
        raise ValueError(f"{name}: the image data is truncated or corrupt ({reason}).") from None


def _convert_mode(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparent pixels become white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)  # (H, W)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
        gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _from_array(array: np.ndarray) -> Image.Image:
    shape = tuple(array.shape)
    if array.ndim == 3 and shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"numpy array of shape {shape}: expected (H, W), (H, W, 1), "
                         "(H, W, 3) or (H, W, 4).")
    if 0 in array.shape:
        raise ValueError(f"numpy array of shape {shape}: the image has no pixels.")
    if array.dtype == np.uint8:
        pixels = array
    elif array.dtype == np.uint16:
        pixels = (array.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError(f"numpy array of shape {shape}: contains NaN or infinity.")
        if array.min() < 0.0 or array.max() > 1.0:
            raise ValueError(f"float numpy array of shape {shape}: values must lie in [0, 1] "
                             f"(got {array.min():.3g}..{array.max():.3g}).")
        pixels = (array * 255.0 + 0.5).astype(np.uint8)
    else:
        raise ValueError(f"numpy array of dtype {array.dtype}: use uint8, uint16 or float.")
    # uint8 arrays of shape (H, W), (H, W, 3), (H, W, 4) become L, RGB, RGBA images.
    return _convert_mode(Image.fromarray(np.ascontiguousarray(pixels)))
