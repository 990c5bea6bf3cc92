"""A photo dropdown and an upload button whose photos go through the model once each.

Every explorer lets a reader pick one of several photos or upload their own. A photo's slow
part (a forward pass, maybe backward passes) is computed the first time it is shown and
cached; every later slider move reuses it. :class:`PhotoPicker` holds the photos, that cache
and the two widgets; the explorer supplies the slow function and takes each upload
(:meth:`PhotoPicker.when_uploaded`): the picker hands it over once, the explorer adds it
with :meth:`PhotoPicker.add_upload` inside its one redraw guard and redraws once. A photo is
decoded once, by the slow function (it gets the photo as given: path, bytes or image).

The upload button speaks both ipywidgets dialects: ipywidgets 8 (JupyterLab 4, VS Code) sends
a tuple of files, ipywidgets 7 (Google Colab) a dict keyed by file name; see
:func:`uploaded_files`.

Example::

    photos = PhotoPicker(sample_images(), lambda image: prepare_rollout(loaded, image))
    photos.get("chelsea")            # computed once, then cached
    photos.add("my cat", "cat.jpg")  # shown in the dropdown and selected
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["uploaded_files", "watch_uploads", "PhotoPicker"]

T = TypeVar("T")


def uploaded_files(value: Any) -> list[tuple[str, bytes]]:
    """The files in a ``FileUpload.value``, whichever ipywidgets made it.

    Args:
        value: ipywidgets 8: a tuple of dicts with ``name`` and ``content`` (a memoryview);
            ipywidgets 7: a dict ``{file name: {"metadata": {"name": ...}, "content": bytes}}``.

    Returns:
        ``(file name, bytes)`` per file, in upload order; empty when nothing was uploaded.

    Raises:
        ValueError: ``value`` is neither shape.
    """
    if not value:
        return []
    try:
        if isinstance(value, Mapping):  # ipywidgets 7
            return [(str(item.get("metadata", {}).get("name", name)), bytes(item["content"]))
                    for name, item in value.items()]
        return [(str(item["name"]), bytes(item["content"])) for item in value]  # ipywidgets 8
    except (KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"not a FileUpload value from ipywidgets 7 or 8 ({type(err).__name__}: "
                         f"{err}); got {type(value).__name__}.") from None


def watch_uploads(upload: Any, callback: Callable[[Any], None]) -> None:
    """Call ``callback(upload.value)`` after every upload, in ipywidgets 7 and 8.

    ipywidgets 8 replaces ``value`` on each upload. ipywidgets 7 rebuilds its read-only
    ``value`` when ``_counter`` grows, and an upload of the same file again leaves ``value``
    equal to before, so no change of ``value`` is reported: it watches ``_counter`` there.

    Args:
        upload: An ``ipywidgets.FileUpload``.
        callback: Gets the new value (read it with :func:`uploaded_files`).
    """
    if upload.has_trait("_counter"):  # ipywidgets 7
        upload.observe(lambda _change: callback(upload.value), names="_counter")
    else:
        upload.observe(lambda change: callback(change["new"]), names="value")


class PhotoPicker(Generic[T]):
    """Photos by name, each computed once, behind an ``image`` dropdown and an ``upload`` button.

    The first photo is computed at once; the others when first asked for. Uploading a file
    adds it to the dropdown and selects it; a file that is not an image leaves a notice
    (see :meth:`take_notice`) for the explorer's status line instead of an exception in
    the widget's callback.

    Args:
        photos: Name -> anything :func:`helpers.data.images.load_image` accepts; at least one.
        compute: The slow path: one photo -> what the explorer draws from.
        width: CSS width of the dropdown.
        upload: Offer the upload button (False when there is no model to run a new photo on).

    Attributes:
        photos: Name -> photo, in dropdown order.
        computed: How many photos have been through ``compute``.
        dropdown: The ``ipywidgets.Dropdown`` of photo names.
        upload: The ``ipywidgets.FileUpload`` button, or None.
    """

    def __init__(self, photos: Mapping[str, Any], compute: Callable[[Any], T],
                 width: str = "200px", upload: bool = True) -> None:
        import ipywidgets as widgets

        if not photos:
            raise ValueError("photos must name at least one photo (name -> image).")
        self.photos = dict(photos)
        self.computed = 0
        self._compute = compute
        self._cache: dict[str, T] = {}
        self._notice = ""
        self._take_upload: Callable[[Any], Any] = self.add_upload
        first = next(iter(self.photos))
        self.get(first)
        self.dropdown = widgets.Dropdown(options=list(self.photos), value=first,
                                         description="image", layout=widgets.Layout(width=width))
        self.upload = None
        if upload:
            self.upload = widgets.FileUpload(accept="image/*", multiple=False,
                                             description="upload")
            watch_uploads(self.upload, self._on_upload)

    def _on_upload(self, value: Any) -> None:
        self._take_upload(value)

    def get(self, name: str) -> T:
        """What ``compute`` made of photo ``name``, computing it on first use (slow).

        Raises:
            ValueError: no photo of that name.
        """
        if name not in self._cache:
            if name not in self.photos:
                raise ValueError(f"unknown photo {name!r}; the explorer has "
                                 f"{', '.join(self.photos)}.")
            self._cache[name] = self._compute(self.photos[name])
            self.computed += 1
        return self._cache[name]

    def add(self, name: str, image: Any) -> str:
        """Add a photo, compute it once and select it in the dropdown.

        The photo is decoded once, by ``compute``; one that is not an image is not added.

        Args:
            name: Label for the dropdown; made unique (``name (2)``) if it is taken.
            image: Anything :func:`helpers.data.images.load_image` accepts.

        Returns:
            The label used.

        Raises:
            ValueError: ``image`` is not a readable image (from ``compute``'s ``load_image``).
        """
        computed = self._compute(image)  # the slow path, before any redraw asks for it
        label, n = name, 2
        while label in self.photos:
            label, n = f"{name} ({n})", n + 1
        self.photos[label] = image
        self._cache[label] = computed
        self.computed += 1
        self.dropdown.options = list(self.photos)  # (this resets the dropdown's value)
        self.dropdown.value = label
        return label

    def add_upload(self, value: Any) -> bool:
        """Add the last file of a ``FileUpload.value``, or leave a notice if it is unusable.

        Args:
            value: What the upload button holds (see :func:`uploaded_files`).

        Returns:
            True when a photo was added or a notice waits (a redraw should follow).
        """
        try:
            files = uploaded_files(value)
        except ValueError as err:
            self._notice = f"could not read the upload: {err}"
            return True
        if not files:
            return False
        name, content = files[-1]
        try:
            self.add(f"upload: {name}", content)
        except ValueError as err:  # shown by the explorer's next redraw
            self._notice = f"could not use {name}: {err}"
        return True

    def when_uploaded(self, take: Callable[[Any], Any]) -> None:
        """Hand every upload to ``take(value)`` instead of adding it here; ``take`` adds it
        with :meth:`add_upload` (an explorer does so inside its redraw guard, then redraws)."""
        self._take_upload = take

    def take_notice(self) -> str:
        """The message about a failed upload, if any, once (it is cleared)."""
        notice, self._notice = self._notice, ""
        return notice
