"""helpers.models.embeddings: the same embeddings from all three libraries, batched like one at a
time, fused like eager, with attention settings and hooks left as they were."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.models.embeddings import (
    EMBEDDING_KINDS,
    Embeddings,
    extract_embeddings,
    token_states,
)
from helpers.models.libraries import (
    attention_kernel,
    library_of,
    sdpa_returns_attention_maps,
)
from helpers.tolerances import DEEP, assert_same_maths

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api

SIZE, PATCH, DIM, CLASSES = 32, 8, 24, 4
TOKENS = (SIZE // PATCH) ** 2 + 1


def _preprocess(image: Image.Image) -> torch.Tensor:
    """PIL -> (3, 32, 32) in [-1, 1]."""
    import torchvision.transforms.v2.functional as F

    x = F.pil_to_tensor(image.convert("RGB").resize((SIZE, SIZE)))  # (3, 32, 32) uint8
    return x.float() / 127.5 - 1.0


@pytest.fixture(scope="module")
def trio() -> dict:
    """library -> a tiny random ViT; all three hold the same weights (timm unfused)."""
    from timm.models.vision_transformer import VisionTransformer

    from helpers.models.convert import timm_to_torchvision, timm_to_transformers

    torch.manual_seed(0)
    vit = VisionTransformer(img_size=SIZE, patch_size=PATCH, embed_dim=DIM, depth=2, num_heads=2,
                            num_classes=CLASSES).eval()
    with torch.no_grad():
        for param in vit.parameters():
            param.normal_(0.0, 0.2)
    for block in vit.blocks:
        block.attn.fused_attn = False
    return {"timm": vit, "torchvision": timm_to_torchvision(vit),
            "transformers": timm_to_transformers(vit, {i: str(i) for i in range(CLASSES)})}


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (40 + 3 * i, 36, 3), dtype=np.uint8))
            for i in range(7)]


def _head(library: str, model: torch.nn.Module) -> torch.nn.Module:
    return {"timm": lambda m: m.head, "torchvision": lambda m: m.heads.head,
            "transformers": lambda m: m.classifier}[library](model)


@pytest.mark.parametrize("library", ["timm", "torchvision", "transformers"])
def test_token_states_shape_and_class_token_feeds_the_classifier(trio, library):
    model = trio[library]
    x = torch.randn(3, 3, SIZE, SIZE)  # (3, 3, 32, 32)
    with torch.inference_mode():
        out = token_states(model, x)
        logits = model(x)
    logits = getattr(logits, "logits", logits)
    assert library_of(model) == library
    assert out.states.shape == (3, TOKENS, DIM) and out.num_prefix == 1
    with torch.inference_mode():
        from_cls = _head(library, model)(out.states[:, 0])  # (3, CLASSES)
    assert_same_maths(from_cls, logits, ulps=DEEP)  # the head applied by hand vs in the model


def test_three_libraries_give_the_same_embeddings(trio, images):
    results = {lib: extract_embeddings(m, images, preprocess=_preprocess, progress=False)
               for lib, m in trio.items()}
    for lib in ("torchvision", "transformers"):
        for kind in ("cls", "mean"):
            assert_same_maths(results[lib].get(kind), results["timm"].get(kind), ulps=DEEP,
                              msg=f"{lib} {kind}")
    assert all(r.pooler is None for r in results.values())


@pytest.mark.parametrize("library", ["timm", "torchvision", "transformers"])
def test_batched_fused_equals_one_at_a_time_eager(trio, images, library):
    model = trio[library]
    batched = extract_embeddings(model, images, preprocess=_preprocess, batch_size=3,
                                 progress=False)
    single = []
    with torch.no_grad():
        for image in images:
            states = token_states(model, _preprocess(image)[None]).states  # (1, T, D)
            single.append(states)
    states = torch.cat(single)  # (N, T, D)
    assert len(batched) == len(images) and batched.cls.shape == (len(images), DIM)
    assert_same_maths(batched.cls, states[:, 0], ulps=DEEP)  # fused and batched vs eager, one
    assert_same_maths(batched.mean, states[:, 1:].mean(1), ulps=DEEP)
    with pytest.raises(AssertionError):  # the CLS is left out of the mean
        assert_same_maths(batched.mean, states.mean(1), ulps=DEEP)


def test_fused_attention_switches_and_restores(trio):
    timm_model, hf = trio["timm"], trio["transformers"]
    with attention_kernel(timm_model, fused=True):
        assert all(block.attn.fused_attn for block in timm_model.blocks)
    assert not any(block.attn.fused_attn for block in timm_model.blocks)
    with attention_kernel(hf, fused=True):
        assert hf.config._attn_implementation == "sdpa"
    assert hf.config._attn_implementation == "eager"
    with pytest.raises(RuntimeError), attention_kernel(timm_model, fused=True):
        raise RuntimeError("inside")
    assert not any(block.attn.fused_attn for block in timm_model.blocks)
    with attention_kernel(hf, fused=True):
        with torch.inference_mode():
            out = hf(pixel_values=torch.randn(1, 3, SIZE, SIZE), output_attentions=True)
        if not sdpa_returns_attention_maps():  # transformers 4.53-4.54 fall back to eager
            assert not out.attentions  # fused attention forms no maps: the reason we restore
    with torch.inference_mode():
        out = hf(pixel_values=torch.randn(1, 3, SIZE, SIZE), output_attentions=True)
    assert len(out.attentions) == 2


def test_extraction_leaves_mode_and_grad_state(trio, images):
    model = trio["timm"].train()
    try:
        embeddings = extract_embeddings(model, images[:2], preprocess=_preprocess,
                                        progress=False)
        assert model.training  # restored
        assert not embeddings.cls.requires_grad and embeddings.cls.dtype == torch.float32
    finally:
        model.eval()


def test_pooler_is_returned_where_the_model_has_one(trio, images):
    from transformers import ViTModel

    hf = trio["transformers"]
    base = ViTModel(hf.config, add_pooling_layer=True).eval()
    base.load_state_dict(hf.vit.state_dict(), strict=False)
    embeddings = extract_embeddings(base, images[:3], preprocess=_preprocess, progress=False)
    assert embeddings.pooler is not None and embeddings.pooler.shape == (3, DIM)
    with torch.no_grad():
        by_hand = torch.tanh(base.pooler.dense(embeddings.cls))  # (3, D): dense + tanh on CLS
    assert_same_maths(embeddings.get("pooler"), by_hand)
    plain = extract_embeddings(hf, images[:3], preprocess=_preprocess, progress=False)
    with pytest.raises(ValueError, match="no pooler"):
        plain.get("pooler")
    with pytest.raises(ValueError, match="kind must be one of"):
        plain.get("max")
    assert EMBEDDING_KINDS == ("cls", "mean", "pooler")


def test_accepts_uint8_arrays_and_loaded_models(tiny_random_timm):
    rng = np.random.default_rng(1)
    array = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    from_array = extract_embeddings(tiny_random_timm, array, batch_size=2, progress=False)
    from_list = extract_embeddings(tiny_random_timm, [Image.fromarray(a) for a in array],
                                   batch_size=3, progress=False)
    assert isinstance(from_array, Embeddings) and from_array.cls.shape == (3, 192)
    assert_same_maths(from_array.cls, from_list.cls, ulps=DEEP)  # batches of 2 vs 3


def test_progress_bar_counts_images(trio, images, capsys):
    extract_embeddings(trio["timm"], images, preprocess=_preprocess, batch_size=4,
                       desc="probe set")
    err = capsys.readouterr().err
    assert "probe set" in err and f"{len(images)}/{len(images)}" in err


def test_bad_input_raises_clear_errors(trio, images):
    model = trio["timm"]
    with pytest.raises(ValueError, match="preprocess is required"):
        extract_embeddings(model, images, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        extract_embeddings(model, images, preprocess=_preprocess, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="empty"):
        extract_embeddings(model, [], preprocess=_preprocess, progress=False)
    with pytest.raises(ValueError, match="list of images"):
        extract_embeddings(model, images[0], preprocess=_preprocess, progress=False)
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        extract_embeddings(model, np.zeros((2, 8, 8)), preprocess=_preprocess, progress=False)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        token_states(model, torch.zeros(3, SIZE, SIZE))
    with pytest.raises(ValueError, match="torchvision, transformers or timm ViT"):
        library_of(torch.nn.Linear(2, 2))


@pytest.mark.real_weights
def test_stand_in_embeddings_find_a_photo_from_its_flipped_copy(stand_in_models, photos):
    from PIL import ImageOps

    loaded = stand_in_models["transformers"]
    originals = list(photos.values())
    flipped = [ImageOps.mirror(image) for image in originals]
    gallery = extract_embeddings(loaded, originals, progress=False).cls  # (5, D)
    queries = extract_embeddings(loaded, flipped, progress=False).cls  # (5, D)
    similarity = torch.nn.functional.normalize(queries, dim=1) @ \
        torch.nn.functional.normalize(gallery, dim=1).T  # (5, 5)
    assert similarity.argmax(dim=1).tolist() == list(range(len(originals)))
