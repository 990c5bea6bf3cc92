"""Small real image datasets for probes and training, online or offline.

Each loader returns an :class:`ImageDataset` whose ``source`` says in one line what
was loaded, so a notebook can print it and every number it reports is about that data.

Order of preference:

* online: the real dataset through the library's own downloader (torchvision for
  CIFAR-10, ``keras.datasets`` for CIFAR-100);
* offline: the CIFAR-10 test split in ``$VIT_NOTEBOOKS_DATA/cifar10_test.npz``
  (10,000 real 32x32 photos), split into train and test here;
* nothing local: scikit-learn's handwritten digits, upsampled to 32x32 RGB.
"""

from __future__ import annotations

import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.setup.config import DATA_ENV, data_dir
from helpers.setup.network import check_network

__all__ = [
    "CIFAR10_NPZ",
    "ImageDataset",
    "load_cifar10",
    "load_cifar100",
    "load_digits_rgb",
    "stratified_split",
]

CIFAR10_NPZ = "cifar10_test.npz"
_CACHE = Path.home() / ".cache" / "vit-notebooks"


@dataclass(frozen=True)
class ImageDataset:
    """A labelled image dataset split into train and test.

    Attributes:
        name: ``"cifar10"``, ``"cifar100"`` or ``"digits"``.
        x_train: (N, H, W, 3) uint8 images.
        y_train: (N,) int64 labels.
        x_test: (M, H, W, 3) uint8 images.
        y_test: (M,) int64 labels.
        classes: Class names by label.
        source: One line saying what was loaded and from where.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    source: str

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)


def stratified_split(x: np.ndarray, y: np.ndarray, train_size: int, test_size: int,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Disjoint, class-balanced train and test subsets.

    Args:
        x: (N, ...) samples.
        y: (N,) integer labels.
        train_size: Samples in the train subset.
        test_size: Samples in the test subset.
        seed: Random seed.

    Returns:
        ``x_train, y_train, x_test, y_test``.
    """
    from sklearn.model_selection import train_test_split

    if train_size < 1 or test_size < 1:
        raise ValueError(f"train_size and test_size must be positive; got {train_size}, "
                         f"{test_size}.")
    if train_size + test_size > len(y):
        raise ValueError(f"train_size + test_size = {train_size + test_size} is more than the "
                         f"{len(y)} samples available.")
    rest, test_idx = train_test_split(np.arange(len(y)), test_size=test_size, stratify=y,
                                      random_state=seed)
    if train_size < len(rest):
        rest, _ = train_test_split(rest, train_size=train_size, stratify=y[rest],
                                   random_state=seed)
    return x[rest], y[rest].astype(np.int64), x[test_idx], y[test_idx].astype(np.int64)


def _subsample(x: np.ndarray, y: np.ndarray, size: int | None, seed: int
               ) -> tuple[np.ndarray, np.ndarray]:
    if size is None or size >= len(y):
        return x, y.astype(np.int64)
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(y)), train_size=size, stratify=y,
                               random_state=seed)
    return x[keep], y[keep].astype(np.int64)


def load_digits_rgb(train_size: int = 1200, test_size: int = 400, seed: int = 0
                    ) -> ImageDataset:
    """scikit-learn's 8x8 handwritten digits, upsampled to 32x32 RGB (ships offline).

    Args:
        train_size: Train images (at most 1797 - test_size).
        test_size: Test images.
        seed: Split seed.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    gray = (digits.images / 16.0 * 255.0).round().astype(np.uint8)  # (1797, 8, 8)
    big = np.kron(gray, np.ones((1, 4, 4), dtype=np.uint8))  # (1797, 32, 32)
    rgb = np.repeat(big[..., None], 3, axis=-1)  # (1797, 32, 32, 3)
    y = digits.target.astype(np.int64)
    train_size = min(train_size, len(y) - test_size)
    x_train, y_train, x_test, y_test = stratified_split(rgb, y, train_size, test_size, seed)
    return ImageDataset("digits", x_train, y_train, x_test, y_test,
                        [str(d) for d in range(10)],
                        f"scikit-learn digits upsampled to 32x32 RGB, {len(y_train)} train / "
                        f"{len(y_test)} test (no network and no {CIFAR10_NPZ})")


def _cifar10_npz(train_size: int, test_size: int, seed: int) -> ImageDataset | None:
    folder = data_dir()
    path = folder / CIFAR10_NPZ if folder else None
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y, classes = npz["x"], npz["y"], [str(c) for c in npz["classes"]]
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path}: not a readable CIFAR-10 npz with arrays x, y, classes "
                         f"({err}).") from None
    if x.ndim != 4 or x.shape[1:] != (32, 32, 3) or len(x) != len(y):
        raise ValueError(f"{path}: expected x of shape (N, 32, 32, 3) and y of shape (N,); "
                         f"got {x.shape} and {y.shape}.")
    x_train, y_train, x_test, y_test = stratified_split(x, y, train_size, test_size, seed)
    return ImageDataset("cifar10", x_train, y_train, x_test, y_test, classes,
                        f"CIFAR-10 test split from ${DATA_ENV}/{CIFAR10_NPZ}, split into "
                        f"{len(y_train)} train / {len(y_test)} test (offline)")


def load_cifar10(train_size: int = 9000, test_size: int = 1000, seed: int = 0
                 ) -> ImageDataset:
    """CIFAR-10: downloaded online, the shared npz offline, digits as the last resort.

    Args:
        train_size: Train images (online: drawn from the 50,000 training images;
            offline: from the 10,000-image npz, disjoint from the test images).
        test_size: Test images.
        seed: Subsampling seed.
    """
    if check_network().online:
        try:
            from torchvision.datasets import CIFAR10

            train = CIFAR10(str(_CACHE), train=True, download=True)
            test = CIFAR10(str(_CACHE), train=False, download=True)
            x_train, y_train = _subsample(train.data, np.asarray(train.targets), train_size, seed)
            x_test, y_test = _subsample(test.data, np.asarray(test.targets), test_size, seed)
            return ImageDataset("cifar10", x_train, y_train, x_test, y_test, list(train.classes),
                                f"CIFAR-10 via torchvision, {len(y_train)} train / "
                                f"{len(y_test)} test images (downloaded or cached)")
        except (OSError, RuntimeError) as err:
            print(f"CIFAR-10 download failed ({err}); using local data instead.")
    local = _cifar10_npz(train_size, test_size, seed)
    if local is not None:
        return local
    return load_digits_rgb(min(train_size, 1397), min(test_size, 400), seed)


class _NamesOnly(pickle.Unpickler):
    """Unpickler for CIFAR-100's ``meta`` file: plain containers and strings only."""

    def find_class(self, module: str, name: str):  # noqa: D102
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _cifar100_names() -> list[str]:
    """Fine label names from the archive keras downloaded (no code is unpickled)."""
    archive = Path.home() / ".keras" / "datasets" / "cifar-100-python.tar.gz"
    meta = Path.home() / ".keras" / "datasets" / "cifar-100-python" / "meta"
    if meta.is_file():
        with meta.open("rb") as handle:
            return [str(n) for n in _NamesOnly(handle, encoding="utf-8").load()["fine_label_names"]]
    if archive.is_file():
        with tarfile.open(archive) as tar:
            member = tar.extractfile("cifar-100-python/meta")
            if member is not None:
                return [str(n) for n in _NamesOnly(member, encoding="utf-8").load()
                        ["fine_label_names"]]
    return [f"class {i}" for i in range(100)]


def load_cifar100(train_size: int | None = None, test_size: int | None = None, seed: int = 0
                  ) -> ImageDataset:
    """CIFAR-100 through ``keras.datasets`` online; offline, CIFAR-10 (npz) or digits.

    Args:
        train_size: Train images (None: all 50,000 online, 9,000 offline).
        test_size: Test images (None: all 10,000 online, 1,000 offline).
        seed: Subsampling seed.
    """
    if check_network().online:
        try:
            import keras

            (x_train, y_train), (x_test, y_test) = keras.datasets.cifar100.load_data()
            x_train, y_train = _subsample(x_train, y_train.reshape(-1), train_size, seed)
            x_test, y_test = _subsample(x_test, y_test.reshape(-1), test_size, seed)
            return ImageDataset("cifar100", x_train, y_train, x_test, y_test, _cifar100_names(),
                                f"CIFAR-100 via keras.datasets, {len(y_train)} train / "
                                f"{len(y_test)} test images (downloaded or cached)")
        except (OSError, RuntimeError, ValueError) as err:
            print(f"CIFAR-100 download failed ({err}); using local data instead.")
    train_size, test_size = train_size or 9000, test_size or 1000
    local = _cifar10_npz(train_size, test_size, seed)
    if local is not None:
        return local
    return load_digits_rgb(min(train_size, 1397), min(test_size, 400), seed)
