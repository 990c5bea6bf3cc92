"""Your own photos: a folder of class folders, checked before any training, then loaded.

``torchvision.datasets.ImageFolder`` reads a folder laid out as ``root/<class>/<image>``: every
sub-folder is a class, every image file inside it one example. It is forgiving in ways that
hurt later: a file it does not recognise is skipped silently, a hidden folder becomes a class,
a broken image fails only when a training step reaches it. :func:`check_image_folder` looks at
everything first and raises one :class:`FolderProblem` that lists every problem, each with its
path and what to do, so a run never starts on a folder it cannot finish:

* the folder is missing, holds no class folder, or only one class (a classifier needs two);
* a class folder holds no image;
* a file is not an image ImageFolder reads (e.g. ``.heic``, ``.txt``), or cannot be decoded;
* a class has too few images to give both the validation and the training split one image.

Hidden files (``.DS_Store``) are ignored, as ImageFolder ignores them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from helpers.finetune.data import ImageSplit

__all__ = ["FolderProblem", "FolderSummary", "check_image_folder", "load_image_folder",
           "write_image_folder", "images_needed"]


class FolderProblem(ValueError):
    """A folder of images that cannot be trained on; the message lists every problem.

    Attributes:
        problems: One line per problem: the path, what is wrong, what to do.
    """

    def __init__(self, root: Path, problems: Sequence[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{root} cannot be used for training ({len(self.problems)} "
                         f"problem{'s' if len(self.problems) > 1 else ''}); nothing was "
                         f"trained:\n{lines}")


@dataclass(frozen=True)
class FolderSummary:
    """What a checked folder holds.

    Attributes:
        root: The folder.
        classes: Class names (sub-folder names, sorted as ImageFolder sorts them).
        counts: Images per class.
    """

    root: Path
    classes: tuple[str, ...]
    counts: tuple[int, ...]

    def __str__(self) -> str:
        per_class = ", ".join(f"{c} {n}" for c, n in zip(self.classes, self.counts, strict=True))
        return f"{self.root}: {len(self.classes)} classes, {sum(self.counts)} images ({per_class})"


def _extensions() -> tuple[str, ...]:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return tuple(IMG_EXTENSIONS)


def images_needed(val_fraction: float) -> int:
    """Fewest images a class needs so that the split gives it one validation image and one
    training image: ``max(2, ceil(1 / val_fraction))``."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in (0, 1); got {val_fraction}.")
    return max(2, math.ceil(1.0 / val_fraction - 1e-9))


def _unreadable(path: Path) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.convert("RGB").load()  # decode every pixel: truncated files fail here
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        return f"{type(err).__name__}: {str(err)[:80]}"
    return None


def check_image_folder(root: str | Path, val_fraction: float = 0.2, decode: bool = True
                       ) -> FolderSummary:
    """Check ``root/<class>/<image>`` before training.

    Args:
        root: The folder.
        val_fraction: Share of each class held out for validation.
        decode: Open every image fully (catches corrupt and truncated files).

    Returns:
        A :class:`FolderSummary` of a folder that is fine.

    Raises:
        FolderProblem: listing every problem found, each with its path and what to do.
    """
    root = Path(root).expanduser()
    needed = images_needed(val_fraction)
    if not root.is_dir():
        raise FolderProblem(root, [f"{root}: no such folder. Upload or mount your images and "
                                   "give the folder's path (it holds one sub-folder per class)."])
    extensions = _extensions()
    problems: list[str] = []
    classes, counts = [], []
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    for stray in sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")):
        problems.append(f"{stray}: a file directly in the folder belongs to no class. Move it "
                        "into the sub-folder of its class.")
    for folder in folders:
        if folder.name.startswith("."):
            problems.append(f"{folder}: a hidden folder would become a class of its own. "
                            "Delete it or move it out of the folder.")
            continue
        files = sorted(p for p in folder.rglob("*") if p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(folder).parts))
        images = [p for p in files if p.suffix.lower() in extensions]
        for other in (p for p in files if p.suffix.lower() not in extensions):
            problems.append(f"{other}: not an image file ImageFolder reads (it reads "
                            f"{', '.join(extensions)}). Convert it to JPEG or PNG, or delete it.")
        if decode:
            for image in images:
                error = _unreadable(image)
                if error:
                    problems.append(f"{image}: cannot be read as an image ({error}). Delete it "
                                    "or export it again.")
        if not images:
            problems.append(f"{folder}: class '{folder.name}' holds no image. Add images of "
                            "this class, or delete the folder.")
        elif len(images) < needed:
            problems.append(f"{folder}: class '{folder.name}' has {len(images)} image"
                            f"{'s' if len(images) > 1 else ''}; a validation share of "
                            f"{val_fraction:g} needs at least {needed} per class (one to "
                            "validate, the rest to train). Add images or raise val_fraction.")
        classes.append(folder.name)
        counts.append(len(images))
    if not classes:
        problems.append(f"{root}: no class folders. Put each class's images in a sub-folder "
                        f"named after the class: {root}/cat/1.jpg, {root}/dog/1.jpg, ...")
    elif len(classes) == 1:
        problems.append(f"{root}: only one class ('{classes[0]}'). A classifier needs at least "
                        "two: add a sub-folder with images of another class.")
    if problems:
        raise FolderProblem(root, problems)
    return FolderSummary(root, tuple(classes), tuple(counts))


def _square(path: Path, size: int) -> np.ndarray:
    """Shorter side resized to ``size`` (bicubic), centre crop: (size, size, 3) uint8."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        scale = size / min(image.size)
        width, height = (max(size, round(d * scale)) for d in image.size)
        image = image.resize((width, height), Image.Resampling.BICUBIC)
        left, top = (width - size) // 2, (height - size) // 2
        return np.asarray(image.crop((left, top, left + size, top + size)))


def load_image_folder(root: str | Path, size: int = 64, val_fraction: float = 0.2,
                      seed: int = 0) -> tuple[ImageSplit, ImageSplit, FolderSummary]:
    """Check the folder, read it with ``torchvision.datasets.ImageFolder``, split each class.

    Args:
        root: The folder (``root/<class>/<image>``).
        size: Side the images are stored at in memory (shorter side resized, centre crop);
            the pixel pipeline resizes them to the model's input size per batch.
        val_fraction: Share of each class for validation (at least one image each).
        seed: Seed of the split.

    Returns:
        ``(train, val, summary)``.
    """
    from torchvision.datasets import ImageFolder

    summary = check_image_folder(root, val_fraction)
    dataset = ImageFolder(str(summary.root))
    if tuple(dataset.classes) != summary.classes:  # both sort the sub-folder names
        raise RuntimeError(f"ImageFolder found classes {dataset.classes}, the check "
                           f"{list(summary.classes)}.")
    images = np.stack([_square(Path(path), size) for path, _ in dataset.samples])
    labels = torch.tensor(dataset.targets, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    val_index = []
    for label in range(len(dataset.classes)):
        members = torch.nonzero(labels == label)[:, 0]
        shuffled = members[torch.randperm(len(members), generator=generator)]
        val_index.append(shuffled[:max(1, round(val_fraction * len(members)))])
    is_val = torch.zeros(len(labels), dtype=torch.bool)
    is_val[torch.cat(val_index)] = True
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()  # (N, 3, size, size)
    split = ImageSplit(tensor, labels, summary.classes)
    return (split.subset(index=torch.nonzero(~is_val)[:, 0]),
            split.subset(index=torch.nonzero(is_val)[:, 0]), summary)


def write_image_folder(root: str | Path, images: np.ndarray, labels: Sequence[int],
                       classes: Sequence[str]) -> Path:
    """Write images as ``root/<class>/<n>.png`` (to make an example folder).

    Args:
        root: The folder to create.
        images: (N, H, W, 3) uint8.
        labels: (N,) class indices.
        classes: Class names by index.

    Returns:
        ``root``.
    """
    from PIL import Image

    root = Path(root)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / classes[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(folder / f"{index:05d}.png")
    return root
