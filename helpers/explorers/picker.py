"""A photo dropdown and an upload button whose photos go through the model once each.

The rollout and DINO explorers both let a reader pick one of several photos or upload their
own. A photo's slow part (a forward pass, maybe backward passes) is computed the first time
it is shown and cached; every later slider move reuses it. :class:`PhotoPicker` holds the
photos, that cache and the two widgets; the explorer supplies the slow function.

Example::

    photos = PhotoPicker(sample_images(), lambda image: prepare(loaded, image))
    photos.get("chelsea")            # computed once, then cached
    photos.add("my cat", "cat.jpg")  # shown in the dropdown and selected
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["PhotoPicker", "PickerExplorer"]

T = TypeVar("T")


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

    Attributes:
        photos: Name -> photo, in dropdown order.
        computed: How many photos have been through ``compute``.
        dropdown: The ``ipywidgets.Dropdown`` of photo names.
        upload: The ``ipywidgets.FileUpload`` button.
    """

    def __init__(self, photos: Mapping[str, Any], compute: Callable[[Any], T],
                 width: str = "200px") -> None:
        import ipywidgets as widgets

        if not photos:
            raise ValueError("photos must name at least one photo (name -> image).")
        self.photos = dict(photos)
        self.computed = 0
        self._compute = compute
        self._cache: dict[str, T] = {}
        self._notice = ""
        first = next(iter(self.photos))
        self.get(first)
        self.dropdown = widgets.Dropdown(options=list(self.photos), value=first,
                                         description="image", layout=widgets.Layout(width=width))
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="upload")
        self.upload.observe(self._on_upload, names="value")  # before any explorer's observer

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

        Args:
            name: Label for the dropdown; made unique (``name (2)``) if it is taken.
            image: Anything :func:`helpers.data.images.load_image` accepts.

        Returns:
            The label used.

        Raises:
            ValueError: ``image`` is not a readable image (from ``load_image``).
        """
        from helpers.data.images import load_image

        photo = load_image(image)
        label, n = name, 2
        while label in self.photos:
            label, n = f"{name} ({n})", n + 1
        self.photos[label] = photo
        self.get(label)  # the slow path, before any redraw asks for it
        self.dropdown.options = list(self.photos)  # resets the value: one more quick redraw
        self.dropdown.value = label
        return label

    def take_notice(self) -> str:
        """The message about a failed upload, if any, once (it is cleared)."""
        notice, self._notice = self._notice, ""
        return notice

    def _on_upload(self, change: Mapping[str, Any]) -> None:
        files = change["new"]
        if not files:
            return
        item = files[-1]
        try:
            self.add(f"upload: {item['name']}", bytes(item["content"]))
        except ValueError as err:  # shown by the redraw that the upload itself triggers
            self._notice = f"could not use {item['name']}: {err}"


class PickerExplorer:
    """Base for explorers built on a :class:`PhotoPicker` kept in ``self._photos``.

    Gives them the same public face: ``photos``, ``computed`` and ``add_photo``.
    """

    _photos: PhotoPicker

    @property
    def photos(self) -> dict[str, Any]:
        """Name -> photo, in the picker's order."""
        return self._photos.photos

    @property
    def computed(self) -> int:
        """How many photos have been run through the model (the slow path)."""
        return self._photos.computed

    def add_photo(self, name: str, image: Any) -> str:
        """Add a photo to the picker, compute it once and show it.

        Args:
            name: Label for the picker; made unique if it is taken.
            image: Anything :func:`helpers.data.images.load_image` accepts.

        Returns:
            The label used.
        """
        return self._photos.add(name, image)
