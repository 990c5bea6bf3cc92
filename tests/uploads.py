"""What an ipywidgets FileUpload holds after a reader picks a file, in both dialects, for tests
of upload handling.

ipywidgets 8 (JupyterLab 4, VS Code) sets ``value`` to a tuple of dicts; ipywidgets 7 (Google
Colab) sends ``metadata`` and ``data`` lists and then bumps ``_counter``, which rebuilds the
read-only ``value`` as a dict keyed by file name. :func:`send_upload` does what the installed
version's front end does, so the same test runs on both.
"""

from __future__ import annotations

import datetime
import io

import ipywidgets
from PIL import Image

IPYWIDGETS_7 = ipywidgets.__version__.startswith("7.")


def upload_value(name: str, content: bytes) -> tuple[dict, ...]:
    """The ipywidgets 8 ``FileUpload.value`` of one uploaded file called ``name``."""
    return ({"name": name, "type": "image/png", "size": len(content),
             "content": memoryview(content), "last_modified": datetime.datetime.now()},)


def upload_value_v7(name: str, content: bytes) -> dict[str, dict]:
    """The ipywidgets 7 ``FileUpload.value`` of one uploaded file called ``name``."""
    return {name: {"metadata": _metadata_v7(name, content), "content": content}}


def _metadata_v7(name: str, content: bytes) -> dict:
    return {"name": name, "type": "image/png", "size": len(content), "lastModified": 1700000000000}


def send_upload(widget: ipywidgets.FileUpload, name: str, content: bytes) -> None:
    """Deliver one file to ``widget`` the way the installed ipywidgets' front end does."""
    if IPYWIDGETS_7:
        widget.metadata = [_metadata_v7(name, content)]
        widget.data = [content]
        widget._counter += 1  # the front end's last message: value is rebuilt from the lists
    else:
        widget.value = upload_value(name, content)


def png_bytes(image: Image.Image) -> bytes:
    """``image`` saved as PNG."""
    buffer = io.BytesIO()
    image.save(buffer, format="png")
    return buffer.getvalue()
