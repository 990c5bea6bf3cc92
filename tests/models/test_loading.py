"""helpers.models: one load() for three libraries, offline, and LoadedModel's methods.

Every test here runs offline (see conftest). Without ``VIT_NOTEBOOKS_WEIGHTS`` the loaders
fall back to random weights; with it, to the real ViT-Tiny stand-in, which must give the
same logits in all three libraries.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.models import LIBRARIES, LoadedModel, load
from helpers.setup.config import STAND_IN_FILENAME, WEIGHTS_ENV
from helpers.tolerances import DEEP, assert_same_maths, assert_same_top_k

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api

PARITY_PHOTOS = ("chelsea", "coffee", "astronaut")
CAT_NAMES = {"Egyptian cat", "tabby", "tiger cat"}


def first_name(label: str) -> str:
    """'tabby, tabby cat' (timm, transformers) and 'tabby' (torchvision) -> 'tabby'."""
    return label.split(",")[0].strip()


@pytest.fixture(scope="module")
def libraries_imported() -> None:
    """Import the three libraries once, so load() timings measure loading, not imports."""
    import timm  # noqa: F401
    import torchvision  # noqa: F401
    from transformers import (  # noqa: F401
        AutoImageProcessor,
        AutoModelForImageClassification,
        ViTForImageClassification,
    )


@pytest.fixture
def no_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record and refuse every host-name lookup, so none can wait on DNS."""
    calls: list = []

    def refuse(host, *args, **kwargs):
        calls.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "lookups are refused in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return calls


def weights_folder(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / STAND_IN_FILENAME
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize("library", ["keras", "TIMM", "", "torch"])
def test_unknown_library(library: str) -> None:
    with pytest.raises(ValueError, match="library must be one of torchvision, transformers, timm"
                       ) as info:
        load(library)
    assert repr(library) in str(info.value)


def test_unknown_torchvision_model_lists_the_vits(no_weights: None) -> None:
    with pytest.raises(ValueError, match="torchvision has no model 'vit_nope'") as info:
        load("torchvision", "vit_nope")
    assert "vit_b_16" in str(info.value)


@pytest.mark.parametrize("name", ["vit_nope_patch16_224", "vit_nope_patch16_224.augreg_in1k"])
def test_unknown_timm_model_says_how_to_list(no_weights: None, name: str) -> None:
    with pytest.raises(ValueError, match=f"timm has no model '{name}'") as info:
        load("timm", name)
    assert "timm.list_models" in str(info.value)


@pytest.mark.parametrize("library", LIBRARIES)
def test_name_must_be_a_string(library: str) -> None:
    with pytest.raises(ValueError, match="name must be a string; got int"):
        load(library, 16)


# --------------------------------------------------------------------------- random fallback


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list:
    """Record every sleep and every socket connection attempt (and refuse the connection).

    Hub clients wait in retries: they sleep between attempts and connect again. A load that
    neither sleeps nor connects cannot be waiting on the network, however busy the machine.
    """
    calls: list = []
    sleep = time.sleep

    def record_sleep(seconds: float) -> None:
        calls.append(("sleep", seconds))
        sleep(seconds)

    def refuse_connect(self, address, *args, **kwargs):
        calls.append(("connect", address))
        raise ConnectionRefusedError("connections are refused in this test")

    monkeypatch.setattr(time, "sleep", record_sleep)
    monkeypatch.setattr(socket.socket, "connect", refuse_connect)
    return calls


@pytest.mark.parametrize("library", LIBRARIES)
def test_offline_without_weights_gives_random_model_quickly(
        libraries_imported: None, no_weights: None, lookups: list, waits: list,
        library: str) -> None:
    """No network, no weights folder: the real architecture, random weights, and no waiting:
    no host lookup, no connection attempt, no sleep (what retries would do). The wall-clock
    bound only catches a hang; a busy 2-core machine can take several seconds to build ViT-B."""
    start = time.perf_counter()
    loaded = load(library, device="cpu")
    elapsed = time.perf_counter() - start
    assert lookups == [], f"{library} tried to reach {lookups}"
    assert waits == [], f"{library} waited: {waits}"
    assert elapsed < 60.0, f"{library} took {elapsed:.1f} s offline"
    assert loaded.kind == "random"
    assert loaded.source.startswith("random weights")
    assert f"{WEIGHTS_ENV} unset" in loaded.source
    assert loaded.library == library
    assert not any(module.training for module in loaded.model.modules())
    assert len(loaded.labels) == 1000
    assert loaded.device == torch.device("cpu")
    assert library in loaded.describe() and loaded.source in loaded.describe()


def test_offline_transformers_restores_the_hub_offline_flag(no_weights: None) -> None:
    import huggingface_hub.constants as constants

    before = constants.HF_HUB_OFFLINE
    load("transformers", device="cpu")
    assert constants.HF_HUB_OFFLINE == before


@pytest.mark.real_weights
def test_stand_in_for_a_headless_timm_name_is_headless(stand_in_dir: Path, photos: dict) -> None:
    loaded = load("timm", "vit_base_patch16_224.dino", device="cpu")
    assert loaded.kind == "stand-in" and loaded.labels == []
    assert "need the network" in loaded.source
    features = loaded.logits(loaded.batch([photos["chelsea"]]))
    assert features.shape == (1, 192)  # pooled class token, no classifier
    with pytest.raises(RuntimeError, match="no classification head"):
        loaded.predict(photos["chelsea"])


@pytest.mark.real_weights
def test_stand_in_is_not_used_for_non_vit_names(stand_in_dir: Path) -> None:
    loaded = load("timm", "resnet18", device="cpu")
    assert loaded.kind == "random" and "does not fit resnet18" in loaded.source


def test_offline_with_empty_weights_folder_names_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    loaded = load("timm", "vit_tiny_patch16_224", device="cpu")
    assert loaded.kind == "random"
    assert f"no {STAND_IN_FILENAME} in {tmp_path}" in loaded.source


def test_headless_dino_has_no_labels_and_cannot_predict(no_weights: None, photos: dict) -> None:
    loaded = load("timm", "vit_base_patch16_224.dino", device="cpu")
    assert loaded.kind == "random"
    assert loaded.labels == []
    with pytest.raises(RuntimeError, match="no classification head"):
        loaded.predict(photos["chelsea"])
    features = loaded.logits(torch.zeros(1, 3, 224, 224))
    assert features.shape == (1, 768)  # pooled features, not logits


# --------------------------------------------------------------------------- corrupt stand-in


@pytest.mark.parametrize("library", LIBRARIES)
def test_checkpoint_of_random_bytes(tmp_path: Path, monkeypatch, library: str) -> None:
    path = weights_folder(tmp_path, np.random.default_rng(0).bytes(4096))
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="not a readable safetensors checkpoint") as info:
        load(library, device="cpu")
    assert str(path) in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("library", LIBRARIES)
def test_checkpoint_with_wrong_tensors(tmp_path: Path, monkeypatch, library: str) -> None:
    from safetensors.torch import save_file

    path = tmp_path / STAND_IN_FILENAME
    save_file({"not_a_vit.weight": torch.zeros(3, 4)}, str(path))
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="does not hold vit_tiny_patch16_224 weights") as info:
        load(library, device="cpu")
    assert str(path) in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# --------------------------------------------------------------------------- LoadedModel


@pytest.mark.parametrize("shape", [(3, 224, 224), (2, 1, 224, 224), (1, 2, 3, 224, 224)])
def test_logits_rejects_wrong_shapes(tiny_random_timm: LoadedModel, shape: tuple) -> None:
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        tiny_random_timm.logits(torch.zeros(shape))


def test_batch_shape(tiny_random_timm: LoadedModel, photos: dict) -> None:
    batch = tiny_random_timm.batch([photos["chelsea"], np.asarray(photos["coffee"])])
    assert batch.shape == (2, 3, 224, 224)
    assert batch.dtype == torch.float32


def test_predict_shape_and_order(tiny_random_timm: LoadedModel, photos: dict) -> None:
    images = [photos["chelsea"], photos["coffee"]]
    results = tiny_random_timm.predict(images, k=5)
    assert len(results) == 2
    for result in results:
        assert len(result) == 5
        probabilities = [p for _, p in result]
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(0.0 < p <= 1.0 for p in probabilities)
        assert all(label in tiny_random_timm.labels for label, _ in result)
    logits = tiny_random_timm.logits(tiny_random_timm.batch(images))
    top = [tiny_random_timm.labels[i] for i in logits.argmax(-1).tolist()]
    assert [result[0][0] for result in results] == top


def test_predict_single_image(tiny_random_timm: LoadedModel, photos: dict) -> None:
    for single in (photos["rocket"], np.asarray(photos["rocket"])):
        results = tiny_random_timm.predict(single, k=3)
        assert len(results) == 1 and len(results[0]) == 3


def test_predict_k_larger_than_classes_clamps(tiny_random_timm: LoadedModel,
                                              photos: dict) -> None:
    (result,) = tiny_random_timm.predict([photos["coffee"]], k=5000)
    assert len(result) == 1000
    assert sorted(label for label, _ in result) == sorted(tiny_random_timm.labels)
    assert sum(p for _, p in result) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(("k", "batch_size"), [(0, 16), (-1, 16), (2.0, 16), (5, 0), (5, None)])
def test_predict_rejects_bad_k_or_batch_size(tiny_random_timm: LoadedModel, photos: dict,
                                             k, batch_size) -> None:
    with pytest.raises(ValueError, match="must be a positive integer"):
        tiny_random_timm.predict(photos["chelsea"], k=k, batch_size=batch_size)


def test_predict_in_batches_equals_one_at_a_time(tiny_random_timm: LoadedModel,
                                                 photos: dict) -> None:
    """Batching (3 images, batch_size=2) does not change any image's probabilities."""
    images = [photos[name] for name in ("chelsea", "coffee", "astronaut")]
    batched = tiny_random_timm.predict(images, k=1000, batch_size=2)
    single = [tiny_random_timm.predict(image, k=1000)[0] for image in images]
    assert len(batched) == 3
    for got, want in zip(batched, single, strict=True):
        got_by_label, want_by_label = dict(got), dict(want)
        assert got_by_label.keys() == want_by_label.keys()
        labels = list(want_by_label)  # a batch of 2 vs one image: matmuls blocked differently
        assert_same_maths([got_by_label[k] for k in labels], [want_by_label[k] for k in labels],
                          ulps=DEEP)


# --------------------------------------------------------------------------- real weights


@pytest.mark.real_weights
def test_stand_in_in_every_library(stand_in_models: dict) -> None:
    for library, loaded in stand_in_models.items():
        assert loaded.library == library
        assert loaded.kind == "stand-in"
        assert "stand-in" in loaded.source and STAND_IN_FILENAME in loaded.source
        assert f"{library}'s own model class" in loaded.source
        assert not any(module.training for module in loaded.model.modules())
        assert len(loaded.labels) == 1000


@pytest.mark.real_weights
def test_stand_in_model_classes(stand_in_models: dict) -> None:
    """Each library gets its own model class, not a timm model in disguise."""
    from timm.models import VisionTransformer as TimmViT
    from torchvision.models import VisionTransformer as TorchvisionViT
    from transformers import ViTForImageClassification

    assert isinstance(stand_in_models["torchvision"].model, TorchvisionViT)
    assert isinstance(stand_in_models["transformers"].model, ViTForImageClassification)
    assert isinstance(stand_in_models["timm"].model, TimmViT)


@pytest.mark.real_weights
def test_stand_in_parity_across_libraries(stand_in_models: dict, photos: dict) -> None:
    """Same pixels in, the same logits out (to float32 rounding) and the same top-5 classes."""
    pixels = stand_in_models["timm"].batch([photos[name] for name in PARITY_PHOTOS])
    logits = {lib: loaded.logits(pixels) for lib, loaded in stand_in_models.items()}
    reference = logits["timm"]  # (3, 1000)
    assert reference.shape == (3, 1000)
    for library in ("torchvision", "transformers"):
        assert_same_maths(logits[library], reference, ulps=DEEP, msg=library)
        assert_same_top_k(logits[library], reference, k=5, ulps=DEEP, msg=library)


@pytest.mark.real_weights
def test_stand_in_preprocessing_agrees(stand_in_models: dict, photos: dict) -> None:
    """Each library's own preprocess gives (nearly) the same tensor for the same photo."""
    for name in PARITY_PHOTOS:
        tensors = {lib: loaded.preprocess(photos[name]) for lib, loaded in stand_in_models.items()}
        reference = tensors["timm"]
        assert reference.shape == (3, 224, 224)
        for library, tensor in tensors.items():
            assert_same_maths(tensor, reference, msg=library)  # each library's resize kernel


@pytest.mark.real_weights
def test_stand_in_classifies_real_photos(stand_in_models: dict, photos: dict) -> None:
    for library, loaded in stand_in_models.items():
        chelsea, coffee = loaded.predict([photos["chelsea"], photos["coffee"]], k=1)
        assert first_name(chelsea[0][0]) in CAT_NAMES, (library, chelsea)
        assert first_name(coffee[0][0]) == "espresso", (library, coffee)
        assert coffee[0][1] > 0.5, (library, coffee)


@pytest.mark.real_weights
def test_loading_twice_gives_identical_logits(stand_in_dir: Path, stand_in_models: dict,
                                              monkeypatch: pytest.MonkeyPatch,
                                              photos: dict) -> None:
    monkeypatch.setenv(WEIGHTS_ENV, str(stand_in_dir))
    pixels = stand_in_models["timm"].batch([photos["astronaut"]])
    for library, first in stand_in_models.items():
        second = load(library, device="cpu")
        assert second.kind == "stand-in"
        assert torch.equal(second.logits(pixels), first.logits(pixels)), library


# --------------------------------------------------------------------------- pinned downloads


def test_pinned_revisions_are_full_commit_ids() -> None:
    from helpers.models import PINNED_REVISIONS

    assert PINNED_REVISIONS, "at least the transformers default must be pinned"
    for repo, commit in PINNED_REVISIONS.items():
        assert "/" in repo and len(commit) == 40 and int(commit, 16) >= 0, (repo, commit)


def test_transformers_download_asks_for_the_pinned_commit(monkeypatch) -> None:
    import transformers

    from helpers.models.hub import PINNED_REVISIONS
    from helpers.models.loading import DEFAULT_NAMES, _load_transformers

    asked: list = []

    def record(name, **kwargs):
        asked.append((name, kwargs.get("revision")))
        raise OSError("recorded; no download in tests")

    for cls in (transformers.AutoModelForImageClassification, transformers.AutoImageProcessor):
        monkeypatch.setattr(cls, "from_pretrained", record)
    name = DEFAULT_NAMES["transformers"]
    with pytest.raises(ValueError, match="could not load"):
        _load_transformers(name, online=True)
    assert asked == [(name, PINNED_REVISIONS[name])]


@pytest.mark.parametrize("pinned", [False, True])
def test_timm_download_asks_for_the_pinned_commit(monkeypatch, pinned: bool) -> None:
    import huggingface_hub
    import timm

    import helpers.models.hub as hub
    from helpers.models.loading import _load_timm

    name = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    repo = timm.models.get_pretrained_cfg(name).hf_hub_id
    monkeypatch.setattr(hub, "PINNED_REVISIONS", {repo: "ab" * 20} if pinned else {})
    asked: list = []

    def record(repo_id, filename, revision=None, **kwargs):
        asked.append((repo_id, filename, revision))
        raise OSError("recorded; no download in tests")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", record)
    with pytest.raises(ValueError, match=f"could not download {repo}/model.safetensors"):
        _load_timm(name, online=True)
    assert asked == [(repo, "model.safetensors", "ab" * 20 if pinned else None)]


def test_torchvision_weights_are_hash_checked() -> None:
    """torchvision pins by content: the file name carries a hash prefix that is verified."""
    import inspect
    import re

    import torchvision
    from torchvision.models import vision_transformer

    url = torchvision.models.get_model_weights("vit_b_16").DEFAULT.url
    assert re.search(r"-[0-9a-f]{8}\.pth$", url), url
    assert "check_hash=True" in inspect.getsource(vision_transformer._vision_transformer)
