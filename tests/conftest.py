"""Shared fixtures: offline mode for every test, the real-weights folder, loaded models.

Comparing floats: the same kernel run twice gives the same bits (``torch.equal``); two kernels
or libraries computing the same maths (fused vs explicit attention, conv vs unfold @ weights,
torchvision vs timm, a batch vs one image, by hand vs the library) differ by float32 rounding,
which differs by processor: compare them with ``helpers.tolerances.assert_same_maths``, whose
tolerance is scaled to the tensor's size -- never with ``assert_close``'s float32 defaults.
See helpers/tolerances.py for why.

Where tests run: the pinned set (``constraints.txt``) runs every test. The other version sets
run only the tests marked ``api`` (they touch a third-party library's API: mark a module with
``pytestmark = pytest.mark.api``, or a single test) and every notebook (nbval items get the
``notebook`` marker here); pure maths and figure tests run once, in the pinned set.

Every test runs offline (``VIT_NOTEBOOKS_OFFLINE=1``, network cache cleared before and
after) unless it is marked ``network_probe``: those tests exercise the probe itself and
get a clean environment without either offline flag.

Real-weights tests ask for :func:`stand_in_dir` (or a fixture built on it). Without
``VIT_NOTEBOOKS_WEIGHTS`` they are skipped, except under CI (``CI=true``) where a missing
checkpoint is a failure: CI must never pass by skipping the parity checks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.setup.config import OFFLINE_ENV, STAND_IN_FILENAME, WEIGHTS_ENV, flag
from helpers.setup.network import check_network

LIBRARIES = ("torchvision", "transformers", "timm")
#: Modules whose tests each run a whole notebook on their own: spread over the workers.
SPREAD_MODULES = ("tests/notebooks/test_offline_notebooks.py::",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "network_probe: runs without the forced-offline flags, to test the probe")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every nbval cell ``notebook``, so the version sets can select the notebooks, and
    start the long work first: slow tests, then notebooks, then the unit tests (each group in
    collection order, a module's tests together), so both cores stay busy to the end."""
    for item in items:
        if str(getattr(item, "path", "")).endswith(".ipynb"):
            item.add_marker(pytest.mark.notebook)

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("slow"):
            return 0
        return 1 if item.get_closest_marker("notebook") else 2

    items.sort(key=rank)  # stable: the order within each group is kept


@pytest.hookimpl(optionalhook=True)  # without pytest-xdist (-p no:xdist) it is not called
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN201 - xdist's hook
    """With ``--dist loadscope`` (make test), each slow test is a unit of its own.

    loadscope keeps a module's tests (and a notebook's cells, which must run in order) on one
    worker. That suits everything but the slow tests: each runs a whole notebook in its own
    kernel, independent of the others, and grouped by module they would keep one core busy for
    many minutes while the other sits idle.
    """
    if config.getoption("dist", None) != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(SPREAD_MODULES):  # the scheduler sees node ids, not markers
                return nodeid
            return super()._split_scope(nodeid)

    return Scheduling(config, log)


@pytest.fixture(autouse=True)
def _offline(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Force offline mode (no probe, no hub) for every test except the probe's own tests."""
    if request.node.get_closest_marker("network_probe"):
        monkeypatch.delenv(OFFLINE_ENV, raising=False)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    else:
        monkeypatch.setenv(OFFLINE_ENV, "1")
    check_network.cache_clear()
    yield
    check_network.cache_clear()


@pytest.fixture(scope="session")
def stand_in_dir() -> Path:
    """The folder named by ``VIT_NOTEBOOKS_WEIGHTS`` that holds the ViT-Tiny checkpoint.

    Skips the test when there is none; fails instead when ``CI`` is set.
    """
    value = os.environ.get(WEIGHTS_ENV, "").strip()
    if not value:
        reason = f"{WEIGHTS_ENV} not set: real-weights tests skipped"
    elif not (Path(value).expanduser() / STAND_IN_FILENAME).is_file():
        reason = f"{WEIGHTS_ENV}={value!r} holds no {STAND_IN_FILENAME}: real-weights tests skipped"
    else:
        return Path(value).expanduser()
    if flag("CI"):
        pytest.fail(f"{reason.split(':')[0]}, but CI is set: CI must run the real-weights tests.",
                    pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def stand_in_models(stand_in_dir: Path) -> dict:
    """The offline stand-in loaded once per library: library -> LoadedModel (CPU)."""
    from helpers.models import load

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(WEIGHTS_ENV, str(stand_in_dir))
        mp.setenv(OFFLINE_ENV, "1")
        check_network.cache_clear()
        try:
            return {library: load(library, device="cpu") for library in LIBRARIES}
        finally:
            check_network.cache_clear()


@pytest.fixture(scope="session")
def tiny_random_timm() -> object:
    """A randomly initialised timm ViT-Tiny with ImageNet labels, loaded offline (CPU).

    Cheap to run (5.7 M parameters), so the predict() tests use it; no weights needed.
    """
    from helpers.models import load

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(WEIGHTS_ENV, raising=False)
        mp.setenv(OFFLINE_ENV, "1")
        check_network.cache_clear()
        try:
            return load("timm", "vit_tiny_patch16_224", device="cpu")
        finally:
            check_network.cache_clear()


@pytest.fixture(scope="session")
def photos() -> dict:
    """The sample photos from installed packages: name -> RGB PIL image."""
    from helpers.data.images import sample_images

    return sample_images()
