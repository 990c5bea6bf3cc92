"""Token removal (helpers.evaluation.removal): a ViT run on the kept patch tokens only equals the
same ViT fed a sequence built by hand from those tokens (each with its own position embedding); the
removed patches' pixels then cannot matter; timm, torchvision and transformers agree; the
curves built on it equal a per-step loop; and what cannot work is refused clearly."""

from __future__ import annotations

import pytest
import torch
from tiny_vits import CLASSES, DEPTH, DIM, HEADS, IMAGE_SIZE, PATCH, hook_state, logits, tiny_trio

from helpers.evaluation.faithfulness import keep_masks, perturbation_curves
from helpers.evaluation.removal import kept_tokens, token_site

PATCHES = (IMAGE_SIZE // PATCH) ** 2


def _images(batch: int = 3, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator)


def _keep(batch: int, count: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    keep = torch.zeros(batch, PATCHES, dtype=torch.bool)
    for b in range(batch):
        keep[b, torch.randperm(PATCHES, generator=generator)[:count]] = True
    return keep


def _by_hand(model, pixels: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """A timm ViT on the kept tokens only: the sequence built without the model's forward."""
    prefix = model.num_prefix_tokens
    with torch.no_grad():
        tokens = model.patch_embed(pixels)  # (B, P, D)
        leading = [model.cls_token] + ([model.reg_token] if model.reg_token is not None else [])
        leading = torch.cat(leading, dim=1).expand(len(pixels), -1, -1)  # (B, prefix, D)
        if model.no_embed_class:  # position embeddings for the patches only
            tokens = tokens + model.pos_embed
        else:
            tokens = tokens + model.pos_embed[:, prefix:]
            leading = leading + model.pos_embed[:, :prefix]
        index = keep.nonzero()[:, 1].reshape(len(keep), -1)  # (B, K)
        kept = tokens.gather(1, index[..., None].expand(-1, -1, tokens.shape[-1]))
        sequence = torch.cat([leading, kept], dim=1)  # (B, prefix + K, D)
        for block in model.blocks:
            sequence = block(sequence)
        return model.head(model.norm(sequence)[:, 0])  # (B, classes)


@pytest.mark.parametrize("variant", [{}, {"no_embed_class": True, "reg_tokens": 2}],
                         ids=["class token", "no_embed_class + 2 registers"])
def test_removal_equals_a_model_run_on_the_kept_tokens_only(variant):
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    model = VisionTransformer(img_size=IMAGE_SIZE, patch_size=PATCH, embed_dim=DIM,
                              depth=DEPTH, num_heads=HEADS, num_classes=CLASSES, **variant)
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.3)
    model.eval()
    assert token_site(model) == (model.patch_drop, 1 + variant.get("reg_tokens", 0))
    pixels = _images()
    before = hook_state(model)
    for count in (PATCHES, 5, 0):
        keep = _keep(len(pixels), count)
        with kept_tokens(model, keep) as cuts:
            got = logits(model, pixels)
        assert len(cuts) == 1
        want = _by_hand(model, pixels, keep)
        # The same layers on the same sequence, but the model's forward may take its fused
        # attention kernel where the blocks called one by one do not: compare up to float
        # rounding, scaled to the logits.
        assert torch.allclose(got, want, atol=1e-5 * float(want.abs().max()), rtol=0), count
    assert hook_state(model) == before


def test_removed_pixels_do_not_matter_and_the_libraries_agree():
    trio = tiny_trio()
    pixels = _images()
    keep = _keep(len(pixels), 6)
    scrambled = pixels.clone()
    mask = keep.reshape(-1, 1, 4, 4).repeat_interleave(PATCH, 2).repeat_interleave(PATCH, 3)
    scrambled[~mask.expand_as(pixels)] = 7.0  # every removed pixel changed
    outputs = {}
    for library, model in trio.items():
        with kept_tokens(model, keep):
            outputs[library] = logits(model, pixels)
            same = logits(model, scrambled)
        assert torch.equal(same, outputs[library]), library  # same kernel twice: exact
        assert not torch.allclose(logits(model, pixels), outputs[library]), library
    # three implementations of the same weights: equal up to float rounding of the logits
    scale = float(outputs["timm"].abs().max())
    for library in ("torchvision", "transformers"):
        assert torch.allclose(outputs[library], outputs["timm"], atol=1e-5 * scale), library


def test_token_curves_equal_a_per_step_loop():
    model = tiny_trio()["timm"]
    pixels = _images(batch=2, seed=3)
    maps = torch.rand(2, PATCHES, generator=torch.Generator().manual_seed(4))
    for mode in ("deletion", "insertion"):
        curves = perturbation_curves(model, pixels, maps, [0, 1], mode=mode, steps=4,
                                     baseline="tokens", batch_size=3)
        keep = keep_masks(maps, 4, mode)  # (2, 5, P)
        for b in range(2):
            for k in range(5):
                with kept_tokens(model, keep[b:b + 1, k]):
                    want = logits(model, pixels[b:b + 1]).softmax(-1)[0, b]
                assert abs(float(curves[b, k]) - float(want)) < 1e-5, (mode, b, k)
    # nothing left: the class token alone, the same for every image
    deletion = perturbation_curves(model, pixels, maps, 0, steps=4, baseline="tokens")
    assert torch.allclose(deletion[0, -1], deletion[1, -1], atol=1e-6)


def test_what_cannot_work_is_refused():
    from timm.models.vision_transformer import VisionTransformer

    model = tiny_trio()["timm"]
    uneven = torch.zeros(2, PATCHES, dtype=torch.bool)
    uneven[0, :3], uneven[1, :5] = True, True
    with pytest.raises(ValueError, match="same number of patches"):
        with kept_tokens(model, uneven):
            pass
    with pytest.raises(ValueError, match=r"keep is \(2, 16\) but the forward pass has 3"):
        with kept_tokens(model, _keep(2, 4)):
            logits(model, _images(3))
    pooled = VisionTransformer(img_size=IMAGE_SIZE, patch_size=PATCH, embed_dim=DIM, depth=1,
                               num_heads=HEADS, num_classes=CLASSES, global_pool="avg",
                               class_token=False)
    with pytest.raises(ValueError, match="pools the patch tokens"):
        token_site(pooled)
    not_a_vit = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 2))
    with pytest.raises(ValueError, match="must be a torchvision, transformers or timm ViT"):
        perturbation_curves(not_a_vit, _images(1), torch.rand(1, 16), 0, steps=4,
                            baseline="tokens")
