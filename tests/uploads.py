"""What an ipywidgets FileUpload holds after a reader picks a file, for tests of upload handling."""

from __future__ import annotations

import datetime
import io

from PIL import Image


def upload_value(name: str, content: bytes) -> tuple[dict, ...]:
    """The ``FileUpload.value`` of one uploaded file called ``name`` with bytes ``content``."""
    return ({"name": name, "type": "image/png", "size": len(content),
             "content": memoryview(content), "last_modified": datetime.datetime.now()},)


def png_bytes(image: Image.Image) -> bytes:
    """``image`` saved as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="png")
    return buffer.getvalue()
