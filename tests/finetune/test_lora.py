"""helpers.finetune.lora through peft: the base weights stay bit-identical while the adapters
train, the merged model computes what the adapted one does, the adapter file alone restores it,
and the trainable count is r · (d_in + d_out) per adapted layer plus the head."""

from __future__ import annotations

import pytest
import torch
from tiny_vits import DEPTH, DIM, IMAGE_SIZE, tiny_timm

from helpers.finetune.freezing import count_parameters, new_head
from helpers.finetune.lora import add_lora, load_adapter, lora_layers, merged_copy, save_adapter


def _trained_lora(rank: int = 2):
    model = new_head(tiny_timm(), 3)
    base = {n: p.detach().clone() for n, p in model.named_parameters()}
    adapted = add_lora(model, rank=rank)
    trainable = [p for p in adapted.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=5e-2)
    generator = torch.Generator().manual_seed(0)
    adapted.train()
    for _ in range(3):
        images = torch.randn(4, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
        loss = torch.nn.functional.cross_entropy(adapted(images), torch.tensor([0, 1, 2, 0]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return adapted.eval(), base


def test_base_weights_stay_bit_identical_and_the_adapters_move():
    adapted, base = _trained_lora()
    inner = adapted.get_base_model()
    for name, value in base.items():
        if name.startswith("head."):
            continue
        key = name.replace("attn.qkv.", "attn.qkv.base_layer.")
        assert torch.equal(inner.get_parameter(key), value), name
    moved = [n for n, p in adapted.named_parameters() if "lora_B" in n and p.abs().max() > 0]
    assert len(moved) == DEPTH                        # B starts at 0 and has learned


def test_trainable_count_is_rank_times_in_plus_out_per_layer_plus_the_head():
    rank = 4
    adapted = add_lora(new_head(tiny_timm(), 3), rank=rank)
    layers = lora_layers(adapted)
    assert len(layers) == DEPTH and set(layers.values()) == {(DIM, 3 * DIM, rank)}
    head = DIM * 3 + 3
    assert count_parameters(adapted)[0] == DEPTH * rank * (DIM + 3 * DIM) + head


def test_merged_model_equals_the_adapted_model():
    adapted, _ = _trained_lora()
    merged = merged_copy(adapted)
    assert type(merged).__name__ == "VisionTransformer" and not lora_layers(merged)
    images = torch.randn(5, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want, got = adapted(images), merged(images)
    # W + s·BA computed once vs x·W + s·(x·A)·B: different float32 rounding, scaled to the logits
    assert torch.allclose(got, want, atol=1e-5 * want.abs().max().item(), rtol=0)
    assert lora_layers(adapted)                        # the adapted model was not merged in place


def test_the_adapter_file_alone_restores_the_model(tmp_path):
    adapted, _ = _trained_lora()
    path = save_adapter(adapted, tmp_path / "adapter")
    assert path.suffix == ".safetensors" and path.stat().st_size < 60_000   # adapters + head only
    restored = load_adapter(new_head(tiny_timm(), 3), tmp_path / "adapter")
    images = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad():
        assert torch.equal(restored(images), adapted(images))   # same weights, same kernels
    with pytest.raises(FileNotFoundError, match="adapter_config.json"):
        load_adapter(tiny_timm(), tmp_path)


def test_bad_targets_and_rank_are_named():
    with pytest.raises(ValueError, match="name no Linear layer"):
        add_lora(new_head(tiny_timm(), 3), targets=("query",))
    with pytest.raises(ValueError, match="rank"):
        add_lora(new_head(tiny_timm(), 3), rank=0)
