"""What the notebooks' prose says about the offline stand-in weights, recomputed here.

The notebooks assert only what holds for every weights kind they may run with (real
checkpoints online, the ViT-Tiny stand-in offline, random weights). Where their prose says
"with the offline stand-in ..." the claim is checked here instead, with the same
computation on the stand-in, so CI still catches a lesson that stops being true.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from helpers.maps.capture import capture_attention
from helpers.maps.rollout import attention_rollout, mean_attention_distance, patch_distances
from helpers.setup.config import OFFLINE_ENV, WEIGHTS_ENV
from helpers.setup.network import check_network

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = [pytest.mark.real_weights, pytest.mark.api]

GRID, PATCH = 14, 16
CORNERS = [0, GRID - 1, GRID * (GRID - 1), GRID * GRID - 1]   # patch indices of the 4 corners
ROLLOUT_PHOTOS = ["chelsea", "coffee", "astronaut", "rocket"]  # notebook 05's photos


def _load_offline(stand_in_dir: Path, library: str, name: str | None = None):
    from helpers.models import load

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(WEIGHTS_ENV, str(stand_in_dir))
        mp.setenv(OFFLINE_ENV, "1")
        check_network.cache_clear()
        try:
            return load(library, name, device="cpu")
        finally:
            check_network.cache_clear()


@pytest.fixture(scope="module")
def timm_stand_in(stand_in_models):
    loaded = stand_in_models["timm"]
    assert loaded.kind == "stand-in"
    return loaded


@pytest.fixture(scope="module")
def rollout_run(timm_stand_in, photos):
    """Notebook 05's forward pass: attentions (CPU) and the last block's output tokens."""
    x = timm_stand_in.batch([photos[n] for n in ROLLOUT_PHOTOS])   # (4, 3, 224, 224)
    block_out = {}
    handle = timm_stand_in.model.blocks[-1].register_forward_hook(
        lambda module, args, out: block_out.update(x=out))
    try:
        with capture_attention(timm_stand_in) as attentions, torch.inference_mode():
            timm_stand_in.model(x)
    finally:
        handle.remove()
    return [a.cpu() for a in attentions], block_out["x"].cpu()


def _block_outputs(loaded, x: torch.Tensor) -> list[torch.Tensor]:
    """Every block's output tokens, before the final norm: depth x (B, T, D)."""
    outputs = []
    handles = [b.register_forward_hook(lambda module, args, out: outputs.append(out))
               for b in loaded.model.blocks]
    try:
        with torch.inference_mode():
            final = loaded.model.forward_features(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs + [final]


# --------------------------------------------------------------------------- notebook 04


def test_04_filter_components_a_fine_checkerboard_comes_second(timm_stand_in):
    from helpers.models.learned import filter_components

    components, _ = filter_components(timm_stand_in.model.patch_embed.proj.weight, k=28)
    comps = components.double()                                     # (28, 3, P, P)
    step_y = (comps[..., 1:, :] - comps[..., :-1, :]).pow(2).mean(dim=(1, 2, 3))
    step_x = (comps[..., :, 1:] - comps[..., :, :-1]).pow(2).mean(dim=(1, 2, 3))
    roughness = (step_x + step_y) / 2 / (2 * comps.var(dim=(1, 2, 3)))
    assert roughness[1] > 1.5                      # component 1: rougher than noise, a checkerboard
    assert roughness[1] > roughness[0]             # the order by variance is not smooth-to-fine
    assert roughness[:7].min() < 0.5               # and the first row has smooth blobs too
    assert 0.5 < roughness[0] < 1.5                # component 0: blotchy, neither smooth nor fine
    assert (roughness[2:4] < 0.3).all()            # components 2 and 3: smooth colour blobs


def test_04_corner_tokens_grow_at_block_7_and_end_shortest(timm_stand_in, photos):
    x = timm_stand_in.batch([photos["chelsea"]])
    *blocks, final = _block_outputs(timm_stand_in, x)
    lengths = torch.stack([b[0, 1:].norm(dim=-1) for b in blocks])           # (depth, N)
    ratio = lengths.max(dim=1).values / lengths.median(dim=1).values
    grown = [i for i, r in enumerate(ratio.tolist()) if r > 10]
    assert grown and grown[0] == 7 and grown == list(range(7, len(blocks)))
    for i in grown:
        assert sorted(lengths[i].topk(4).indices.tolist()) == CORNERS
    big = blocks[-1][0, 1:][CORNERS]                                           # (4, D)
    assert (big.pow(2).max(dim=-1).values / big.pow(2).sum(dim=-1) > 0.8).all()
    gamma = timm_stand_in.model.norm.weight.abs()
    assert (gamma[big.abs().argmax(dim=-1)] < gamma.median()).all()            # a small γ there
    after = final[0, 1:].norm(dim=-1)
    assert sorted(after.argsort()[:4].tolist()) == CORNERS                    # the 4 shortest


def test_04_the_class_token_attends_to_the_corners_in_the_last_layer(rollout_run):
    attentions, _ = rollout_run
    cls_last = attentions[-1][0, :, 0, 1:].mean(dim=0)                         # chelsea, (N,)
    assert sorted(cls_last.topk(4).indices.tolist()) == CORNERS


# --------------------------------------------------------------------------- notebook 05


def test_05_last_layer_piles_on_the_corners_and_rollout_spreads_it(rollout_run):
    attentions, block_out = rollout_run
    raw_last = attentions[-1].mean(dim=1)[:, 0, 1:]                             # (B, 196)
    rolled = attention_rollout(attentions)                                     # (B, 196)
    corner_raw = raw_last[:, CORNERS].sum(-1) / raw_last.sum(-1)
    corner_rolled = rolled[:, CORNERS].sum(-1) / rolled.sum(-1)
    assert (corner_raw > 0.2).all() and (corner_rolled < corner_raw).all()
    assert (corner_rolled < 0.1).all()                                         # "a few percent"
    norms = block_out[:, 1:].norm(dim=-1)                     # before the final norm
    assert norms[:, CORNERS].mean() / norms.median() > 5


def test_05_fusion_order_and_corner_shares(rollout_run):
    attentions, _ = rollout_run
    ratios = [0.0, 0.5, 0.9, 0.95]

    def top_share(maps, k=20):
        maps = maps / maps.sum(dim=-1, keepdim=True)
        return float(maps.sort(dim=-1, descending=True).values[:, :k].sum(dim=-1).mean())

    def corner_share(maps):
        return float((maps[:, CORNERS].sum(-1) / maps.sum(-1)).mean())

    maps = {(f, r): attention_rollout(attentions, f, r) for f in ("mean", "max", "min")
            for r in ratios}
    for r in ratios:
        assert top_share(maps["min", r]) > top_share(maps["mean", r]) > top_share(maps["max", r])
    assert corner_share(maps["min", 0.95]) > 2 * corner_share(maps["mean", 0.0])
    assert corner_share(maps["mean", 0.95]) > 2 * corner_share(maps["mean", 0.0])


def test_05_attention_distance_local_early_beyond_uniform_late(rollout_run):
    attentions, _ = rollout_run
    distance = mean_attention_distance(attentions, GRID, PATCH)               # (L, heads)
    uniform = float(patch_distances(GRID, PATCH).mean())
    assert (distance[:3].min(dim=1).values < 30).all()        # a local head in layers 0-2
    assert distance[-3:].min() > uniform
    to_corners = [float((a[:, :, 1:, 1:][..., CORNERS].sum(-1) / a[:, :, 1:, 1:].sum(-1)).mean())
                  for a in attentions[-3:]]
    assert sum(to_corners) / 3 > 0.5


# --------------------------------------------------------------------------- notebook 02


def test_02_geometry_barely_matters_the_normalisation_a_lot(stand_in_models, photos):
    import torchvision.transforms.v2.functional as F
    from torchvision.models import ViT_B_16_Weights
    from transformers import ViTImageProcessor

    loaded = stand_in_models["transformers"]
    images = list(photos.values())
    google = ViTImageProcessor()                                              # squash to 224, 0.5

    def confidence(prepare):
        batch = torch.stack([prepare(image) for image in images])
        return loaded.logits(batch).softmax(dim=-1)

    half = torch.full((3, 1, 1), 0.5)
    weights = ViT_B_16_Weights.IMAGENET1K_V1.transforms()

    def imagenet_stats(image):
        return F.normalize(loaded.preprocess(image) * half + half, mean=list(weights.mean),
                           std=list(weights.std))

    own = confidence(loaded.preprocess)
    top = own.argmax(dim=-1)
    rows = torch.arange(len(images))

    def mean_in_top(probs):
        return float(probs[rows, top].mean())

    squashed = confidence(
        lambda image: google(images=image, return_tensors="pt")["pixel_values"][0])
    restat = confidence(imagenet_stats)
    assert abs(mean_in_top(squashed) - mean_in_top(own)) < 0.05               # geometry: a little
    assert mean_in_top(squashed) > mean_in_top(own)                          # ... and even up
    assert mean_in_top(own) - mean_in_top(restat) > 0.3                      # mean/std: a lot
    # per photo the squash moves the confidence both ways
    change = squashed[rows, top] - own[rows, top]
    assert (change > 0).any() and (change < 0).any()


# --------------------------------------------------------------------------- notebook 07


def test_07_dino_and_supervised_names_load_the_same_stand_in(stand_in_dir, timm_stand_in,
                                                              photos):
    from helpers.maps.dino import image_maps

    dino = _load_offline(stand_in_dir, "timm", "vit_base_patch16_224.dino")
    assert dino.kind == "stand-in" and dino.model.num_classes == 0
    images = [photos["chelsea"], photos["coffee"]]
    torch.testing.assert_close(image_maps(dino, images).tokens,
                               image_maps(timm_stand_in, images).tokens, atol=1e-5, rtol=0)


def test_07_corner_tokens_longest_before_the_final_norm_shortest_after(stand_in_dir, photos):
    dino = _load_offline(stand_in_dir, "timm", "vit_base_patch16_224.dino")
    x = dino.batch([photos[n] for n in ("chelsea", "coffee", "astronaut")])
    *blocks, final = _block_outputs(dino, x)
    before = blocks[-1][:, 1:].norm(dim=-1)                                   # (B, 196)
    after = final[:, 1:].norm(dim=-1)
    for b in range(len(x)):
        assert sorted(before[b].topk(4).indices.tolist()) == CORNERS
        assert sorted(after[b].argsort()[:4].tolist()) == CORNERS


def test_02_model_processor_is_close_to_the_stand_in_recipe(stand_in_models, photos):
    from helpers.data.preprocessing import processor_from_recipe, recipe_of

    loaded = stand_in_models["transformers"]
    model_processor = processor_from_recipe(recipe_of(loaded.preprocess, "stand-in"))
    gaps = [float((model_processor(images=image, return_tensors="pt")["pixel_values"][0]
                   - loaded.preprocess(image)).abs().mean()) for image in photos.values()]
    assert max(gaps) < 0.05                       # close ...
    assert max(gaps) > 0                          # ... not bit-equal (the rocket)
