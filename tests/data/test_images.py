"""helpers.data.images: the sample photos, and load_image on good, odd and hostile inputs.

Every file used here is generated in ``tmp_path`` or in memory; nothing binary is committed.
The URL tests use a local http.server thread on 127.0.0.1 and never leave the machine.
"""

from __future__ import annotations

import http.server
import io
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from helpers.data.images import MAX_PIXELS, load_image, sample_images

SAMPLE_SIZES = {  # (width, height) of the package-shipped photos
    "chelsea": (451, 300),
    "coffee": (600, 400),
    "astronaut": (512, 512),
    "rocket": (640, 427),
    "grace_hopper": (512, 600),
}


# --------------------------------------------------------------------------- builders


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    """``image`` saved in ``fmt`` to bytes."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(width: int, height: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Seeded random uint8 pixels, shape (height, width, channels): incompressible data."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), np.uint8)


def png_chunk(tag: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, tag, data, CRC-32 of tag + data."""
    return (struct.pack(">I", len(data)) + tag + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG whose IHDR claims ``width`` x ``height`` RGB pixels (data: 1 row)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + png_chunk(b"IEND", b""))


def dds_unknown_pixel_format() -> bytes:
    """A DDS file whose pixel-format flags are 0 (PIL raised NotImplementedError: fuzz find)."""
    data = bytearray(encode(Image.fromarray(noise(16, 16, 4)), "DDS"))
    assert data[:4] == b"DDS "
    data[80:84] = bytes(4)  # DDS_PIXELFORMAT.dwFlags
    return bytes(data)


def tiff_rational_strip_offsets() -> bytes:
    """A 2x2 grayscale TIFF whose StripOffsets tag has type RATIONAL (PIL raised TypeError)."""
    entries = [(256, 3, 2), (257, 3, 2), (258, 3, 8), (259, 3, 1), (262, 3, 1),
               (273, 5, None), (278, 3, 2), (279, 4, 4)]  # (tag, type, value)
    data_at = 8 + 2 + 12 * len(entries) + 4
    out = b"II*\x00" + struct.pack("<IH", 8, len(entries))
    for tag, kind, value in entries:
        if tag == 273:
            value = data_at + 4  # points at the rational below
        packed = struct.pack("<I", value) if kind in (4, 5) else struct.pack("<HH", value, 0)
        out += struct.pack("<HHI", tag, kind, 1) + packed
    return out + struct.pack("<I", 0) + bytes([0, 64, 128, 255]) + struct.pack("<II", data_at, 1)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# name -> builder(tmp_path) -> path of a file (or folder) that is not a usable image
BAD_FILES: dict[str, Callable[[Path], Path]] = {
    "directory": lambda d: (d / "photos.png").mkdir() or d / "photos.png",
    "empty_file": lambda d: write(d, "empty.png", b""),
    "random_bytes": lambda d: write(d, "noise.jpg", np.random.default_rng(1).bytes(4096)),
    "truncated_png": lambda d: write(
        d, "cut.png", encode(Image.fromarray(noise(64, 64)), "PNG")[:6000]),
    "truncated_jpeg": lambda d: write(
        d, "cut.jpg", encode(Image.fromarray(noise(64, 64)), "JPEG", quality=95)[:3000]),
    "text_renamed_jpg": lambda d: write(d, "notes.jpg", b"These are my notes, not a photo.\n"),
    "png_header_100000x100000": lambda d: write(d, "bomb.png", png_claiming(100_000, 100_000)),
    "png_header_over_max_pixels": lambda d: write(d, "big.png", png_claiming(9000, 8000)),
    "dds_unknown_pixel_format": lambda d: write(d, "odd.dds", dds_unknown_pixel_format()),
    "tiff_rational_strip_offsets": lambda d: write(d, "odd.tif", tiff_rational_strip_offsets()),
}


def assert_clean_error(error: BaseException, name: str) -> None:
    """A user-facing error: names the input, carries no chained PIL traceback."""
    message = str(error)
    assert name in message, f"{name!r} not in {message!r}"
    assert "Traceback" not in message
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


# --------------------------------------------------------------------------- sample images


def test_sample_images_are_the_five_named_rgb_photos() -> None:
    from skimage import data

    images = sample_images()
    assert list(images) == list(SAMPLE_SIZES)
    for name, image in images.items():
        assert isinstance(image, Image.Image)
        assert image.mode == "RGB"
        assert image.size == SAMPLE_SIZES[name], name
    np.testing.assert_array_equal(np.asarray(images["chelsea"]), data.chelsea())


# --------------------------------------------------------------------------- good inputs


def test_path_str_and_pathlib(tmp_path: Path) -> None:
    pixels = noise(7, 5)
    path = write(tmp_path, "photo.png", encode(Image.fromarray(pixels), "PNG"))
    for src in (path, str(path)):
        image = load_image(src)
        assert image.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(image), pixels)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_raw_bytes(wrap) -> None:
    pixels = noise(6, 4)
    image = load_image(wrap(encode(Image.fromarray(pixels), "PNG")))
    assert image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), pixels)


@pytest.mark.parametrize("shape", [(4, 6), (4, 6, 1)])
def test_numpy_gray(shape: tuple) -> None:
    gray = noise(6, 4, 1)[..., 0]  # (4, 6)
    image = load_image(gray.reshape(shape))
    assert (image.mode, image.size) == ("RGB", (6, 4))
    np.testing.assert_array_equal(np.asarray(image), np.stack([gray] * 3, axis=-1))


def test_numpy_rgb_exact() -> None:
    pixels = noise(9, 3)
    np.testing.assert_array_equal(np.asarray(load_image(pixels)), pixels)


def test_numpy_non_contiguous_view() -> None:
    pixels = noise(10, 6)[:, ::2]  # (6, 5, 3), strided
    np.testing.assert_array_equal(np.asarray(load_image(pixels)), pixels)


def test_numpy_rgba_composited_on_white() -> None:
    rgba = np.array([[[10, 20, 30, 0], [10, 20, 30, 255], [0, 0, 0, 128]]], np.uint8)  # (1,3,4)
    out = np.asarray(load_image(rgba)).astype(int)
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])  # fully transparent -> white
    np.testing.assert_array_equal(out[0, 1], [10, 20, 30])  # opaque -> unchanged
    assert np.all(np.abs(out[0, 2] - 127) <= 1)  # half-transparent black -> mid grey


@pytest.mark.parametrize("channels", [None, 3])
def test_numpy_uint16_scaled_to_8_bits(channels) -> None:
    values = np.array([[0, 257 * 77, 65535]], np.uint16)  # (1, 3)
    src = values if channels is None else np.stack([values] * channels, axis=-1)
    out = np.asarray(load_image(src))
    np.testing.assert_array_equal(out[0, :, 0], [0, 77, 255])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_float_unit_range(dtype) -> None:
    values = np.array([[0.0, 0.5, 1.0]], dtype)
    out = np.asarray(load_image(values))
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255])


def test_pil_mode_l() -> None:
    image = Image.fromarray(np.array([[0, 90, 255]], np.uint8), "L")
    np.testing.assert_array_equal(np.asarray(load_image(image))[0, :, 1], [0, 90, 255])


def test_pil_mode_la_transparent_is_white() -> None:
    image = Image.fromarray(np.array([[[90, 0], [90, 255]]], np.uint8), "LA")
    out = np.asarray(load_image(image))
    np.testing.assert_array_equal(out[0], [[255, 255, 255], [90, 90, 90]])


def test_pil_mode_rgba_transparent_is_white() -> None:
    image = Image.new("RGBA", (2, 1), (200, 10, 10, 255))
    image.putpixel((0, 0), (0, 0, 0, 0))
    out = np.asarray(load_image(image))
    np.testing.assert_array_equal(out[0], [[255, 255, 255], [200, 10, 10]])


def palette_image(transparent: bool) -> Image.Image:
    """2x1 palette image: index 0 red, index 1 green (index 0 transparent if asked)."""
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 255, 0] + [0, 0, 0] * 254)
    image.putpixel((1, 0), 1)
    if transparent:
        image.info["transparency"] = 0
    return image


def test_pil_mode_p() -> None:
    out = np.asarray(load_image(palette_image(transparent=False)))
    np.testing.assert_array_equal(out[0], [[255, 0, 0], [0, 255, 0]])


@pytest.mark.parametrize("via_png", [False, True])
def test_pil_mode_p_with_transparency(via_png: bool) -> None:
    image = palette_image(transparent=True)
    src = encode(image, "PNG", transparency=0) if via_png else image
    out = np.asarray(load_image(src))
    np.testing.assert_array_equal(out[0], [[255, 255, 255], [0, 255, 0]])


def test_cmyk_jpeg() -> None:
    """A CMYK JPEG (Adobe-inverted on disk) comes back as the right RGB colours."""
    image = Image.new("CMYK", (16, 8), (0, 0, 0, 0))  # white
    image.paste((255, 0, 0, 0), (0, 0, 8, 8))  # left half pure cyan
    data = encode(image, "JPEG", quality=100)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = np.asarray(load_image(data)).astype(int)
    assert np.abs(out[4, 2] - [0, 255, 255]).max() <= 8
    assert np.abs(out[4, 13] - [255, 255, 255]).max() <= 8


def test_16_bit_png_scaled_to_8_bits() -> None:
    values = np.array([[0, 128 * 257, 65535, 1000]], np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    out = np.asarray(load_image(data))
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255, 4])  # 1000/65535*255 = 3.9


def test_one_bit_image() -> None:
    image = Image.new("1", (2, 1), 0)
    image.putpixel((1, 0), 1)
    for src in (image, encode(image, "PNG")):
        np.testing.assert_array_equal(np.asarray(load_image(src))[0],
                                      [[0, 0, 0], [255, 255, 255]])


def test_exif_rotation_applied() -> None:
    """Orientation 6 (rotate 90 degrees clockwise to view) turns 40x20 into 20x40."""
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(Image.new("RGB", (40, 20), (0, 0, 255)), "JPEG", exif=exif)
    assert load_image(data).size == (20, 40)


def test_max_pixels_limit_is_inclusive() -> None:
    data = encode(Image.new("RGB", (20, 20)), "PNG")
    assert load_image(data, max_pixels=400).size == (20, 20)
    with pytest.raises(ValueError, match="over the limit of 399"):
        load_image(data, max_pixels=399)


# --------------------------------------------------------------------------- hostile files


def test_missing_path_names_it(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such.png"
    for src in (path, str(path)):
        with pytest.raises(FileNotFoundError) as info:
            load_image(src)
        assert str(path) in str(info.value)


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_raises_clean_value_error(tmp_path: Path, case: str) -> None:
    path = BAD_FILES[case](tmp_path)
    start = time.perf_counter()
    with pytest.raises(ValueError) as info:
        load_image(path)
    elapsed = time.perf_counter() - start
    assert_clean_error(info.value, str(path))
    assert elapsed < 2.0, f"{case} took {elapsed:.2f} s to reject"


@pytest.mark.parametrize("case", [c for c in BAD_FILES if c != "directory"])
def test_bad_bytes_raise_clean_value_error(tmp_path: Path, case: str) -> None:
    data = BAD_FILES[case](tmp_path).read_bytes()
    start = time.perf_counter()
    with pytest.raises(ValueError) as info:
        load_image(data)
    elapsed = time.perf_counter() - start
    assert_clean_error(info.value, f"<{len(data)} bytes>")
    assert elapsed < 2.0, f"{case} took {elapsed:.2f} s to reject"


def test_error_messages_say_why(tmp_path: Path) -> None:
    """Each failure explains itself in words a student can act on."""
    reasons = {
        "directory": "folder",
        "empty_file": "empty",
        "text_renamed_jpg": "looks like text",
        "truncated_jpeg": "truncated",
        "png_header_100000x100000": "too large",
        "png_header_over_max_pixels": f"over the limit of {MAX_PIXELS:,}",
    }
    for case, reason in reasons.items():
        with pytest.raises(ValueError, match=reason):
            load_image(BAD_FILES[case](tmp_path))
    with pytest.raises(ValueError) as info:
        load_image(BAD_FILES["random_bytes"](tmp_path))
    assert "text" not in str(info.value)


def test_truncated_file_opened_lazily_by_pil(tmp_path: Path) -> None:
    """A PIL image that was only opened (not decoded) fails on load with a ValueError."""
    image = Image.open(BAD_FILES["truncated_png"](tmp_path))
    with pytest.raises(ValueError, match="truncated or corrupt") as info:
        load_image(image)
    assert_clean_error(info.value, "<PIL RGB image 64x64>")


@pytest.mark.parametrize("shape", [(0, 5), (5, 0, 3), (0, 0, 4), (3, 0, 1)])
def test_zero_size_array(shape: tuple) -> None:
    with pytest.raises(ValueError, match="no pixels") as info:
        load_image(np.zeros(shape, np.uint8))
    assert_clean_error(info.value, f"numpy array of shape {shape}")


@pytest.mark.parametrize("shape", [(5,), (2, 2, 2), (2, 2, 5), (1, 2, 2, 3)])
def test_array_of_wrong_shape(shape: tuple) -> None:
    with pytest.raises(ValueError, match=r"expected \(H, W\)") as info:
        load_image(np.zeros(shape, np.uint8))
    assert str(shape) in str(info.value)


@pytest.mark.parametrize("dtype", [bool, np.int64, np.int8, np.complex64])
def test_array_of_unsupported_dtype(dtype) -> None:
    with pytest.raises(ValueError, match="uint8, uint16 or float"):
        load_image(np.zeros((2, 2), dtype))


@pytest.mark.parametrize("bad", [-0.01, 1.01, 255.0, np.nan, np.inf, -np.inf])
def test_float_array_out_of_range_or_not_finite(bad: float) -> None:
    values = np.full((2, 3), 0.5)
    values[1, 2] = bad
    with pytest.raises(ValueError, match=r"\[0, 1\]|NaN"):
        load_image(values)


@pytest.mark.parametrize("src", [3, None, 2.5, [[0, 255]], {"path": "x.png"}])
def test_unsupported_types(src) -> None:
    with pytest.raises(ValueError, match=type(src).__name__):
        load_image(src)


# --------------------------------------------------------------------------- URLs


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ROUTES: path -> (status, content type, body, declared length or None)."""

    ROUTES: dict[str, tuple[int, str, bytes, int | None]] = {}
    timeout = 5  # seconds a stuck client may hold a handler thread

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        status, ctype, body, declared = self.ROUTES.get(
            self.path, (404, "text/plain", b"not found", None))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(declared if declared is not None else len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


URL_PIXELS = noise(8, 6)


@pytest.fixture(scope="module")
def http_base() -> Iterator[str]:
    """Base URL of a local HTTP server thread, shut down after this module."""
    _Handler.ROUTES = {
        "/cat.png": (200, "image/png", encode(Image.fromarray(URL_PIXELS), "PNG"), None),
        "/page.html": (200, "text/html; charset=utf-8", b"<html>a web page</html>", None),
        "/garbage.png": (200, "image/png", np.random.default_rng(2).bytes(500), None),
        "/empty.png": (200, "image/png", b"", None),
        "/huge.png": (200, "image/png", b"", 10**9),
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests must not go through a proxy set in the environment."""
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


def test_url_valid_image(http_base: str, no_proxy: None) -> None:
    image = load_image(f"{http_base}/cat.png")
    assert image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), URL_PIXELS)


def test_url_scheme_is_case_insensitive(http_base: str, no_proxy: None) -> None:
    assert load_image(f"HTTP{http_base[4:]}/cat.png").size == (8, 6)


@pytest.mark.parametrize(("path", "reason"), [
    ("/page.html", "'text/html', not an image"),
    ("/missing.png", "could not download"),
    ("/garbage.png", "not an image file"),
    ("/empty.png", "empty response"),
    ("/huge.png", "over the"),
])
def test_url_refused(http_base: str, no_proxy: None, path: str, reason: str) -> None:
    url = f"{http_base}{path}"
    with pytest.raises(ValueError, match=reason) as info:
        load_image(url)
    assert_clean_error(info.value, url)


def test_url_unreachable_fails_fast(no_proxy: None) -> None:
    with socket.socket() as sock:  # bind, then close: nothing listens on this port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x.png"
    start = time.perf_counter()
    with pytest.raises(ValueError, match="could not download") as info:
        load_image(url)
    assert time.perf_counter() - start < 2.0
    assert_clean_error(info.value, url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:notaport/x.png", "http://[::1/x.png"])
def test_malformed_url(url: str) -> None:
    with pytest.raises(ValueError) as info:
        load_image(url)
    assert_clean_error(info.value, url)


# --------------------------------------------------------------------------- properties


@st.composite
def uint8_images(draw) -> np.ndarray:
    height = draw(st.integers(1, 64))
    width = draw(st.integers(1, 64))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    shape = (height, width) if channels is None else (height, width, channels)
    return draw(arrays(np.uint8, shape))


@settings(max_examples=60, deadline=None)
@given(uint8_images())
def test_property_uint8_arrays_load_to_rgb_of_same_size(array: np.ndarray) -> None:
    image = load_image(array)
    assert image.mode == "RGB"
    assert image.size == (array.shape[1], array.shape[0])
    out = np.asarray(image).astype(int)
    pixels = array.astype(int)
    if array.ndim == 2 or array.shape[-1] == 1:
        expected = np.repeat(pixels.reshape(*array.shape[:2], 1), 3, axis=-1)
    elif array.shape[-1] == 3:
        expected = pixels
    else:  # composite on white
        alpha = pixels[..., 3:] / 255.0
        expected = pixels[..., :3] * alpha + 255 * (1 - alpha)
    assert np.abs(out - expected).max() <= 1


MAGIC_PREFIXES = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"II*\x00",
                  b"MM\x00*", b"RIFF\x00\x00\x00\x00WEBP", b"\x00\x00\x01\x00", b"DDS ",
                  b"P6\n", b"8BPS", b"\x01\xda"]
SEED_FILES = [encode(Image.fromarray(noise(12, 10, seed=3)), fmt)
              for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "ICO", "DDS", "PPM")]


@st.composite
def hostile_bytes(draw) -> bytes:
    """Random bytes, random bytes behind a real format's magic, or a mutated real file."""
    kind = draw(st.sampled_from(["random", "magic", "mutated"]))
    if kind == "random":
        return draw(st.binary(max_size=2048))
    if kind == "magic":
        return draw(st.sampled_from(MAGIC_PREFIXES)) + draw(st.binary(max_size=1024))
    data = bytearray(draw(st.sampled_from(SEED_FILES)))
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[:draw(st.integers(1, len(data)))])


@pytest.mark.filterwarnings("ignore::UserWarning")  # PIL warns on corrupt EXIF while decoding
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_bytes())
def test_property_bytes_raise_only_value_error(data: bytes) -> None:
    try:
        image = load_image(data)
    except ValueError as err:
        assert_clean_error(err, f"<{len(data)} bytes>")
    else:
        assert image.mode == "RGB"
        assert image.width >= 1 and image.height >= 1
