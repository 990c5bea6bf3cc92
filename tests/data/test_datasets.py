"""helpers.data.datasets: offline CIFAR-10 from the shared npz, digits fallback, splitting."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data import datasets as data
from helpers.setup.network import check_network


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("VIT_NOTEBOOKS_OFFLINE", "1")
    check_network.cache_clear()
    yield
    check_network.cache_clear()


def _fake_npz(folder, n=200):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    y = np.arange(n) % 10
    classes = np.array([f"c{i}" for i in range(10)])
    np.savez(folder / data.CIFAR10_NPZ, x=x, y=y.astype(np.uint8), classes=classes)
    return x, y


def test_npz_split_is_disjoint_balanced_and_seeded(tmp_path, monkeypatch):
    x, _ = _fake_npz(tmp_path)
    monkeypatch.setenv("VIT_NOTEBOOKS_DATA", str(tmp_path))
    ds = data.load_cifar10(train_size=100, test_size=50, seed=0)
    assert ds.name == "cifar10" and ds.classes == [f"c{i}" for i in range(10)]
    assert ds.x_train.shape == (100, 32, 32, 3) and ds.x_test.shape == (50, 32, 32, 3)
    assert ds.y_train.dtype == np.int64
    assert np.bincount(ds.y_test).tolist() == [5] * 10
    flat = {img.tobytes() for img in ds.x_train}
    assert not flat & {img.tobytes() for img in ds.x_test}  # no image in both
    again = data.load_cifar10(train_size=100, test_size=50, seed=0)
    assert np.array_equal(again.x_train, ds.x_train)
    assert "cifar10_test.npz" in ds.source and "offline" in ds.source


def test_too_many_samples_requested_is_a_clear_error(tmp_path, monkeypatch):
    _fake_npz(tmp_path, n=100)
    monkeypatch.setenv("VIT_NOTEBOOKS_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="100 samples available"):
        data.load_cifar10(train_size=90, test_size=20)


def test_corrupt_npz_names_the_file(tmp_path, monkeypatch):
    (tmp_path / data.CIFAR10_NPZ).write_bytes(b"not a zip")
    monkeypatch.setenv("VIT_NOTEBOOKS_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="cifar10_test.npz"):
        data.load_cifar10()


def test_digits_fallback_without_data(monkeypatch):
    monkeypatch.delenv("VIT_NOTEBOOKS_DATA", raising=False)
    ds = data.load_cifar10(train_size=300, test_size=100)
    assert ds.name == "digits" and ds.num_classes == 10
    assert ds.x_train.shape == (300, 32, 32, 3) and ds.x_train.dtype == np.uint8
    assert ds.x_train.max() == 255 and "digits" in ds.source
    assert np.array_equal(ds.x_train[..., 0], ds.x_train[..., 2])  # gray as RGB
    assert data.load_cifar100().name == "digits"


@pytest.mark.real_weights
def test_shared_npz_is_real_cifar10(monkeypatch):
    import os

    folder = os.environ.get("VIT_NOTEBOOKS_DATA")
    if not folder:
        pytest.skip("VIT_NOTEBOOKS_DATA not set: shared CIFAR-10 test skipped")
    ds = data.load_cifar10(train_size=9000, test_size=1000)
    assert ds.classes[0] == "airplane" and ds.num_classes == 10
    assert np.bincount(ds.y_test).tolist() == [100] * 10
    assert 60 < ds.x_train.mean() < 200  # real photos, not noise or blanks
