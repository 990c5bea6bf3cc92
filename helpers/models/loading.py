"""Load a ViT classifier from torchvision, transformers or timm with one call, online or off.

``load(library, name)`` always returns a :class:`LoadedModel` and never waits in hub
retries. Which weights it uses is decided in this order:

1. **online**: the real pretrained weights, through the library's own download and cache;
2. **offline, cached**: the same weights if the library's cache already holds them;
3. **offline, stand-in**: the real ImageNet ViT-Tiny/16 checkpoint found in
   ``$VIT_NOTEBOOKS_WEIGHTS``, converted into *the requested library's own model class*;
4. **offline, nothing local**: the requested architecture with random weights.

``LoadedModel.source`` says in one line which of these happened.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from helpers.models import hub
from helpers.models.hub import MissingHubFile, cached_file, download, endpoint, hub_offline
from helpers.models.libraries import adapter_named, use_eager_attention
from helpers.models.loaded import LoadedModel
from helpers.setup.config import STAND_IN_FILENAME, WEIGHTS_ENV, stand_in_checkpoint, weights_dir
from helpers.setup.network import check_network

__all__ = ["DEFAULT_NAMES", "STAND_IN_ARCH", "load"]

#: The models the series teaches with.
DEFAULT_NAMES = {
    "torchvision": "vit_b_16",
    "transformers": "google/vit-base-patch16-224",
    "timm": "vit_base_patch16_224.augreg2_in21k_ft_in1k",
}

#: timm architecture of the offline stand-in checkpoint.
STAND_IN_ARCH = "vit_tiny_patch16_224"
STAND_IN_TAG = "augreg_in21k_ft_in1k"


def load(library: str, name: str | None = None, *, device: str | torch.device | None = None
         ) -> LoadedModel:
    """Load a pretrained ViT (or its offline stand-in) from one of three libraries.

    Args:
        library: ``"torchvision"``, ``"transformers"`` or ``"timm"``.
        name: The library's model name; ``None`` picks :data:`DEFAULT_NAMES`.
        device: Where to put the model; default CUDA when available, else CPU.

    Returns:
        A :class:`LoadedModel` in eval mode whose attention can be captured
        (eager attention in transformers, unfused attention in timm).

    Raises:
        ValueError: unknown library or model name, or a corrupt stand-in checkpoint.
    """
    adapter = adapter_named(library)  # the one place the library's name is looked at
    name = name or DEFAULT_NAMES[library]
    if not isinstance(name, str):
        raise ValueError(f"name must be a string; got {type(name).__name__}.")
    loader = {"torchvision": _load_torchvision, "transformers": _load_transformers,
              "timm": _load_timm}[adapter.name]
    loaded = loader(name, check_network().online)
    loaded.adapter = adapter
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    loaded.model.eval().to(target)
    loaded.device = target
    return loaded


# --------------------------------------------------------------------------- offline helpers


def _no_weights_reason(name: str | None = None) -> str:
    if name is not None and stand_in_checkpoint() is not None:
        return f"no network, and the ViT-Tiny stand-in does not fit {name}"
    folder = weights_dir()
    if folder is None:
        return f"no network and {WEIGHTS_ENV} unset"
    return f"no network and no {STAND_IN_FILENAME} in {folder}"


def _stand_in_timm() -> nn.Module | None:
    """The stand-in checkpoint loaded into timm's ViT-Tiny, or None if there is none.

    Raises:
        ValueError: the checkpoint exists but is not a readable, matching ViT-Tiny.
    """
    path = stand_in_checkpoint()
    if path is None:
        return None
    import timm
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state_dict = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path}: not a readable safetensors checkpoint ({err}). Copy it "
                         f"again, or unset {WEIGHTS_ENV} to run with random weights.") from None
    model = timm.create_model(STAND_IN_ARCH, pretrained=False)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise ValueError(f"{path}: does not hold {STAND_IN_ARCH} weights ({detail[:300]}). "
                         f"Use the file from ../shared/weights or unset {WEIGHTS_ENV}.") from None
    return use_eager_attention(model).eval()


def _stand_in_source(library: str) -> str:
    path = stand_in_checkpoint()
    return (f"stand-in: ViT-Tiny/16 ImageNet weights (offline), from {path.name} "
            f"in {library}'s own model class")


def _timm_transform(model: nn.Module) -> Callable[[Image.Image], torch.Tensor]:
    """Evaluation transform of a timm model, from its pretrained config."""
    from timm.data import create_transform, resolve_data_config

    return create_transform(**resolve_data_config({}, model=model))


def _timm_labels(model: nn.Module) -> list[str]:
    """Class names of a timm model from timm's own ImageNet metadata ([] if headless)."""
    from timm.data import ImageNetInfo, infer_imagenet_subset

    if getattr(model, "num_classes", 0) == 0:
        return []
    subset = infer_imagenet_subset(model)
    if subset is None:
        return [f"class {i}" for i in range(model.num_classes)]
    return list(ImageNetInfo(subset).label_descriptions())


# --------------------------------------------------------------------------- torchvision


def _load_torchvision(name: str, online: bool) -> LoadedModel:
    import torchvision

    available = torchvision.models.list_models(module=torchvision.models)
    if name not in available:
        vits = ", ".join(n for n in available if n.startswith("vit_"))
        raise ValueError(f"torchvision has no model {name!r}. Its ViTs are: {vits}.")
    weights = torchvision.models.get_model_weights(name).DEFAULT
    labels = list(weights.meta["categories"])
    cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)
    if online or cached.is_file():
        try:
            model = torchvision.models.get_model(name, weights=weights)
        except (OSError, RuntimeError) as err:  # URLError, a hash mismatch, a truncated file
            raise ValueError(f"torchvision could not load {name} weights {weights.name} from "
                             f"{weights.url} (cache: {cached}): {str(err).strip()[:300]}"
                             ) from None
        where = "downloaded or cached" if online else "from the local cache, offline"
        return LoadedModel("torchvision", name, model, weights.transforms(), labels,
                           f"pretrained: torchvision {name} {weights.name} ({where})",
                           "pretrained")
    stand_in = _stand_in_timm() if name.startswith("vit_") else None
    if stand_in is not None:
        from helpers.models.convert import timm_to_torchvision

        return LoadedModel("torchvision", name, timm_to_torchvision(stand_in),
                           _timm_transform(stand_in), labels, _stand_in_source("torchvision"),
                           "stand-in")
    model = torchvision.models.get_model(name, weights=None)
    return LoadedModel("torchvision", name, model, weights.transforms(), labels,
                       f"random weights: torchvision {name} architecture "
                       f"({_no_weights_reason(None if name.startswith('vit_') else name)})",
                       "random")


# --------------------------------------------------------------------------- transformers


def _load_transformers(name: str, online: bool) -> LoadedModel:
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    def from_hub(local_only: bool) -> LoadedModel:
        revision = hub.PINNED_REVISIONS.get(name)
        model = AutoModelForImageClassification.from_pretrained(
            name, attn_implementation="eager", local_files_only=local_only, revision=revision)
        processor = AutoImageProcessor.from_pretrained(name, local_files_only=local_only,
                                                       revision=revision)
        labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
        where = "from the local cache, offline" if local_only else "downloaded or cached"
        return LoadedModel("transformers", name, model, _hf_preprocess(processor), labels,
                           f"pretrained: {name} ({where})", "pretrained")

    if online:
        try:
            return from_hub(local_only=False)
        except Exception as err:  # noqa: BLE001 - hub, file and format errors of many classes
            revision = hub.PINNED_REVISIONS.get(name)
            at = f" at commit {revision}" if revision else ""
            broken = hub.discard_broken_weights(name, err)
            raise ValueError(f"transformers could not load {name!r}{at} from {endpoint()}: "
                             f"{broken or type(err).__name__ + ': ' + str(err).strip()[:400]}"
                             ) from None
    try:
        with hub_offline():
            return from_hub(local_only=True)
    except OSError:
        pass  # not in the local cache: fall through to the stand-in
    stand_in = _stand_in_timm()
    if stand_in is not None:
        from helpers.models.convert import timm_to_transformers

        labels = _timm_labels(stand_in)
        model = timm_to_transformers(stand_in, dict(enumerate(labels)))
        return LoadedModel("transformers", name, model, _timm_transform(stand_in), labels,
                           _stand_in_source("transformers"), "stand-in")
    return _random_transformers(name)


def _hf_preprocess(processor: Any) -> Callable[[Image.Image], torch.Tensor]:
    def preprocess(image: Image.Image) -> torch.Tensor:
        return processor(images=image, return_tensors="pt")["pixel_values"][0]  # (3, H, W)

    return preprocess


def _random_transformers(name: str) -> LoadedModel:
    """ViT-B/16 (transformers' default ViTConfig) with random weights and ImageNet labels."""
    from timm.data import ImageNetInfo
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    # timm ships ImageNet's class names; transformers does not, offline.
    labels = list(ImageNetInfo("imagenet-1k").label_descriptions())
    config = ViTConfig(num_labels=len(labels), id2label=dict(enumerate(labels)),
                       label2id={label: i for i, label in enumerate(labels)})
    model = ViTForImageClassification(config)
    use_eager_attention(model)
    return LoadedModel("transformers", name, model, _hf_preprocess(ViTImageProcessor()), labels,
                       f"random weights: ViT-B/16 architecture, transformers' default ViTConfig "
                       f"({_no_weights_reason()})", "random")


# --------------------------------------------------------------------------- timm


def _load_timm(name: str, online: bool) -> LoadedModel:
    import timm

    arch, _tag = timm.models.split_model_name_tag(name)
    if not timm.is_model(arch):
        raise ValueError(f"timm has no model {name!r}. List candidates with "
                         "timm.list_models('vit_*', pretrained=True).")
    repo = _timm_hub_repo(name)
    cached = None if online or not repo else cached_file(repo, _TIMM_FILES)
    if online or cached is not None:
        if cached is not None:
            file = cached[1]
        elif repo:  # download it ourselves: pinned commit, checked hash, the hub's cache
            file = _timm_download(repo)
        else:  # weights hosted elsewhere than the hub: timm's own download
            file = None
        # custom_load=False: the file is the hub's safetensors, not the original .npz that some
        # configs (augreg) describe; timm >= 1.0.2x resets it for a local file, 1.0.17 does not.
        overlay = None if file is None else {"file": file, "custom_load": False}
        try:
            model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay)
        except (RuntimeError, OSError, ValueError) as err:
            raise ValueError(f"timm could not load pretrained {name!r}: {err}") from None
        where = "from the local cache, offline" if cached else "downloaded or cached"
        return _timm_loaded(name, use_eager_attention(model), f"pretrained: timm {name} ({where})",
                            "pretrained")
    stand_in = _stand_in_timm() if arch.startswith("vit_") else None
    if stand_in is not None:
        source = _stand_in_source("timm")
        cfg = timm.models.get_pretrained_cfg(name)
        if cfg is not None and cfg.num_classes == 0:  # e.g. DINO: a feature extractor
            stand_in.reset_classifier(0)
            source += f"; classifier removed to match {name}, whose own weights need the network"
        return _timm_loaded(name, stand_in, source, "stand-in")
    model = use_eager_attention(timm.create_model(name, pretrained=False))
    return _timm_loaded(name, model,
                        f"random weights: timm {arch} architecture "
                        f"({_no_weights_reason(None if arch.startswith('vit_') else arch)})",
                        "random")


def _timm_loaded(name: str, model: nn.Module, source: str, kind: str) -> LoadedModel:
    return LoadedModel("timm", name, model, _timm_transform(model), _timm_labels(model),
                       source, kind)


def _timm_hub_repo(name: str) -> str | None:
    """The Hugging Face repository timm downloads ``name`` from, or None."""
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return None
    return getattr(cfg, "hf_hub_id", None) or None


#: The files a timm hub repository holds its weights in, in the order timm prefers them.
_TIMM_FILES = ("model.safetensors", "pytorch_model.bin")


def _timm_download(repo: str) -> str:
    """The repository's weights file, downloaded at its pinned commit and checked."""
    try:
        return download(repo, _TIMM_FILES[0])
    except MissingHubFile:  # older timm repositories hold only the PyTorch pickle
        return download(repo, _TIMM_FILES[1])
