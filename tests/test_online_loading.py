"""The online path of ``load()``, exercised end to end against a hub on 127.0.0.1.

Nothing here reaches huggingface.co: tests/hub_server.py answers the hub's file endpoints for
the real repository ids at their pinned commits, serving the ViT-Tiny stand-in converted to
each repository's layout. Each phase runs ``load`` in a fresh process (tests/online_client.py)
with ``HF_ENDPOINT`` pointing there and empty caches in a temporary folder:

1. online: the files are downloaded at the pinned commit, checked, cached, and the model works;
2. online again, in the same process: nothing is downloaded again (the disk cache answers; the
   course keeps no model in memory between loads, so a second round in one process asks the
   hub and the cache exactly as a new kernel would, and saves a process start);
3. offline, the hub gone, in a new process (a student restarting the kernel offline): the same
   weights come from the cache, quickly;

and the failures a student can meet: a repository without the pinned commit, a truncated
download, a file whose hash is not the pinned one, a torchvision download that fails its hash.
These tests fail if ``load`` stops passing the revision, stops using the cache, or hangs.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hub_server import Hub, Repo

from helpers.models.hub import PINNED_FILES, PINNED_REVISIONS

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = [pytest.mark.real_weights, pytest.mark.api]

ROOT = Path(__file__).resolve().parent.parent
CLIENT = Path(__file__).resolve().parent / "online_client.py"
HF_REPO = "google/vit-base-patch16-224"
TIMM_DEFAULT_REPO = "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k"
TIMM_TINY = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"
TIMM_TINY_REPO = f"timm/{TIMM_TINY}"
TINY_COMMIT = "0123456789abcdef0123456789abcdef01234567"  # a pin this test gives the tiny repo
OTHER_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"
TV_FILE = "vit_b_16-c867db91.pth"
LOAD_BOUND_S = 30.0  # a hub client in retries waits 23-49 s per file; a cached load takes ~1 s


def _hf_files(stand_in: torch.nn.Module) -> dict[str, bytes]:
    """google/vit-base-patch16-224's layout (config, safetensors, processor) for the stand-in."""
    from safetensors.torch import save
    from timm.data import ImageNetInfo

    from helpers.models.convert import timm_to_transformers

    labels = list(ImageNetInfo("imagenet-1k").label_descriptions())
    hf = timm_to_transformers(stand_in, dict(enumerate(labels)))
    processor = {"image_processor_type": "ViTImageProcessor", "do_resize": True,
                 "size": {"height": 224, "width": 224}, "resample": 2, "do_rescale": True,
                 "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5] * 3,
                 "image_std": [0.5] * 3}
    return {"config.json": hf.config.to_json_string().encode(),
            "model.safetensors": save({k: v.contiguous() for k, v in hf.state_dict().items()}),
            "preprocessor_config.json": json.dumps(processor).encode()}


@pytest.fixture(scope="module")
def served(stand_in_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The loopback hub, the caches' folder, and the tiny repo's checksum."""
    from safetensors.torch import load_file

    stand_in_file = stand_in_dir / "vit_tiny_patch16_224.safetensors"
    tiny_bytes = stand_in_file.read_bytes()
    import timm

    stand_in = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    stand_in.load_state_dict(load_file(str(stand_in_file)))
    hf_files = _hf_files(stand_in.eval())
    repos = {
        HF_REPO: Repo(PINNED_REVISIONS[HF_REPO], hf_files),
        TIMM_TINY_REPO: Repo(TINY_COMMIT, {"model.safetensors": tiny_bytes}),
        # the default timm repo at its real pinned commit, but not the pinned file's bytes
        TIMM_DEFAULT_REPO: Repo(PINNED_REVISIONS[TIMM_DEFAULT_REPO],
                                {"model.safetensors": tiny_bytes}),
        # the same HF files at another commit only: the pinned one is missing
        "test/moved-repo": Repo(OTHER_COMMIT, hf_files, main_is_commit=True),
        "test/truncated-repo": Repo(TINY_COMMIT, dict(hf_files),
                                    truncated={"model.safetensors"}),
    }
    hub = Hub(repos)
    caches = tmp_path_factory.mktemp("online-caches")
    yield hub, caches, hashlib.sha256(tiny_bytes).hexdigest(), len(tiny_bytes)
    hub.stop()


def _run(hub_url: str, caches: Path, spec: dict) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIT_NOTEBOOKS_OFFLINE", "HF_HUB_OFFLINE", "VIT_NOTEBOOKS_WEIGHTS",
                        "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=hub_url, HF_HOME=str(caches / "hf"), TORCH_HOME=str(caches / "torch"),
               HF_HUB_DISABLE_TELEMETRY="1", PYTHONUNBUFFERED="1")
    result = subprocess.run([sys.executable, str(CLIENT), json.dumps(spec)], env=env,
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line is not None, f"client failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return json.loads(line[len("RESULT "):])


def _tiny_spec(sha256: str, size: int) -> dict:
    return {"pins": {TIMM_TINY_REPO: TINY_COMMIT},
            "files": {f"{TIMM_TINY_REPO}|model.safetensors": [size, sha256]},
            "calls": [["transformers", HF_REPO], ["timm", TIMM_TINY], ["torchvision", "vit_b_16"]]}


@pytest.fixture(scope="module")
def torchvision_cache(served) -> Path:
    """vit_b_16's weight file, in TORCH_HOME's cache under its real name (random weights:
    torchvision's real file cannot be served, since its name carries its hash)."""
    import torchvision

    _, caches, _, _ = served
    folder = caches / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.vit_b_16().state_dict(), folder / TV_FILE)
    return folder / TV_FILE


@pytest.fixture(scope="module")
def phases(served, torchvision_cache) -> dict:
    """Run the three phases once: download, load again, offline with the hub gone."""
    hub, caches, sha256, size = served
    spec = _tiny_spec(sha256, size)
    online = _run(hub.url, caches, {**spec, "rounds": 2})
    mark = hub.log.index(("GET", "/__round/2"))
    closed = "http://127.0.0.1:9"  # the discard port: nothing listens, a probe fails at once
    offline = _run(closed, caches, spec)
    return {"first": {**online, "calls": online["rounds"][0]},
            "second": {**online, "calls": online["rounds"][1]}, "offline": offline,
            "log_first": hub.log[:mark], "log_second": hub.log[mark + 1:]}


def test_online_load_downloads_the_pinned_commit(phases) -> None:
    first = phases["first"]
    assert first["network"].startswith("online (127.0.0.1 reachable)")
    by_library = {call["library"]: call for call in first["calls"]}
    for library in ("transformers", "timm"):
        call = by_library[library]
        assert call.get("kind") == "pretrained", call
        assert "downloaded or cached" in call["source"]
        assert call["top"] == "Egyptian cat"  # the stand-in's weights, served by the hub
    gets = [path for verb, path in phases["log_first"] if verb == "GET"]
    assert f"/{HF_REPO}/resolve/{PINNED_REVISIONS[HF_REPO]}/model.safetensors" in gets
    assert f"/{TIMM_TINY_REPO}/resolve/{TINY_COMMIT}/model.safetensors" in gets
    assert not [p for p in gets if "/resolve/main/" in p], "a download ignored the pin"


def test_a_second_load_uses_the_cache(phases) -> None:
    second = phases["second"]
    assert all(call.get("kind") == "pretrained" for call in second["calls"]), second
    new = phases["log_second"]
    weights = [path for verb, path in new if verb == "GET" and path.endswith(".safetensors")]
    assert weights == [], f"downloaded again: {weights}"


def test_offline_reuses_the_cache_without_waiting(phases) -> None:
    offline = phases["offline"]
    assert offline["network"].startswith("offline (127.0.0.1 unreachable")
    for call in offline["calls"]:
        assert call.get("kind") == "pretrained", call
        assert "from the local cache, offline" in call["source"], call
        assert call["seconds"] < LOAD_BOUND_S, call
    assert {c["library"]: c["top"] for c in offline["calls"]}["timm"] == "Egyptian cat"


def test_torchvision_online_and_offline_load_the_cached_file(phases) -> None:
    for phase in ("first", "offline"):
        call = {c["library"]: c for c in phases[phase]["calls"]}["torchvision"]
        assert call.get("kind") == "pretrained" and call["weights_equal"], (phase, call)


def test_failures_name_the_repository_file_and_commit(served) -> None:
    hub, caches, sha256, size = served
    pins = {"test/moved-repo": PINNED_REVISIONS[HF_REPO], "test/truncated-repo": TINY_COMMIT}
    bad_tv = hub.serve_path(f"/models/{TV_FILE}", b"not the weights")
    spec = {"pins": pins, "calls": [["transformers", "test/moved-repo"],
                                    ["transformers", "test/truncated-repo"],
                                    ["timm", "vit_base_patch16_224.augreg2_in21k_ft_in1k"]],
            "torchvision_url": bad_tv}
    fresh = caches / "failures"
    result = _run(hub.url, fresh, {**spec, "calls": spec["calls"] + [["torchvision",
                                                                       "vit_b_16"]]})
    moved, truncated, wrong_hash, torchvision_bad = result["calls"]
    assert "test/moved-repo" in moved["error"] and PINNED_REVISIONS[HF_REPO] in moved["error"]
    assert "test/truncated-repo" in truncated["error"], truncated
    assert f"{TIMM_DEFAULT_REPO}/model.safetensors" in wrong_hash["error"]
    assert "not the pinned file" in wrong_hash["error"]
    assert PINNED_FILES[(TIMM_DEFAULT_REPO, "model.safetensors")][1][:16] in wrong_hash["error"]
    assert TV_FILE in torchvision_bad["error"] and "hash" in torchvision_bad["error"]
    assert all(call["seconds"] < LOAD_BOUND_S for call in result["calls"]), result
    assert hub.requests_for(f"/{TIMM_DEFAULT_REPO}/resolve/{PINNED_REVISIONS[TIMM_DEFAULT_REPO]}/")
    hub_cache = fresh / "hf" / "hub"
    for repo in ("test--truncated-repo", "timm--vit_base_patch16_224.augreg2_in21k_ft_in1k"):
        left = [p for p in (hub_cache / f"models--{repo}").rglob("*")
                if p.is_file() and p.stat().st_size > 1_000_000]
        assert left == [], f"a broken download stayed in the cache: {left}"
