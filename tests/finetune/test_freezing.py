"""helpers.finetune.freezing and methods: a frozen parameter gets no gradient and does not
change in a training step; each method trains exactly what it says; the pretrained model
is never modified."""

from __future__ import annotations

import pytest
import torch
from tiny_vits import CLASSES, DEPTH, IMAGE_SIZE, tiny_timm

from helpers.finetune.freezing import (
    count_parameters,
    freeze_all,
    new_head,
    train_last_blocks,
    train_only_head,
    trainable_names,
)
from helpers.finetune.methods import (
    METHODS,
    finetuning_copy,
    prepare,
    set_input_size,
    set_patch_dropout,
)


def _step(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """One AdamW step on a random batch; returns every parameter before the step."""
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    images = torch.randn(4, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(1))
    model.train()
    model(images).logsumexp(-1).mean().backward()
    optimizer.step()
    return before


def _changed(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> set[str]:
    return {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}


def test_new_head_is_seeded_and_leaves_the_global_random_state():
    a, b, c = tiny_timm(), tiny_timm(), tiny_timm()   # tiny_timm() seeds the global state
    state = torch.get_rng_state()
    a, b = new_head(a, 3, seed=5), new_head(b, 3, seed=5)
    assert torch.equal(torch.get_rng_state(), state)
    assert a.head.out_features == 3 and torch.equal(a.head.weight, b.head.weight)
    assert not torch.equal(a.head.weight, new_head(c, 3, seed=6).head.weight)
    with pytest.raises(ValueError, match="num_classes"):
        new_head(tiny_timm(), 1)


def test_head_only_really_freezes_the_backbone():
    model = train_only_head(tiny_timm())
    before = _step(model)
    assert _changed(model, before) == {"head.weight", "head.bias"}
    assert all(p.grad is None for n, p in model.named_parameters() if not n.startswith("head."))


def test_last_blocks_train_those_blocks_the_norm_and_the_head():
    model = train_last_blocks(tiny_timm(), 1)
    before = _step(model)
    last = f"blocks.{DEPTH - 1}."
    assert _changed(model, before) == {n for n in before if n.startswith((last, "norm.", "head."))}
    assert all(p.grad is None for n, p in model.named_parameters()
               if n.startswith(("blocks.0.", "patch_embed.", "pos_embed", "cls_token")))
    with pytest.raises(ValueError, match="blocks"):
        train_last_blocks(tiny_timm(), DEPTH + 1)


def test_counts_follow_the_frozen_parameters():
    model = tiny_timm()
    total = sum(p.numel() for p in model.parameters())
    assert count_parameters(model) == (total, total)
    freeze_all(model)
    assert count_parameters(model) == (0, total) and trainable_names(model) == []
    train_only_head(model)
    assert count_parameters(model)[0] == model.head.weight.numel() + model.head.bias.numel()


def test_finetuning_copy_leaves_the_pretrained_model_alone():
    pretrained = tiny_timm()
    state = {k: v.clone() for k, v in pretrained.state_dict().items()}
    copy = finetuning_copy(pretrained, 3, size=16, patch_drop=0.5)
    assert copy.head.out_features == 3 and pretrained.head.out_features == CLASSES
    assert copy.pos_embed.shape[1] == 1 + 4 and pretrained.pos_embed.shape[1] == 1 + 16
    assert all(torch.equal(v, pretrained.state_dict()[k]) for k, v in state.items())
    head = torch.nn.Linear(copy.head.in_features, 3)
    started = finetuning_copy(pretrained, 3, head=head)
    assert torch.equal(started.head.weight, head.weight)        # LP-FT: the probe's head
    with pytest.raises(ValueError, match="head must be"):
        finetuning_copy(pretrained, 4, head=head)


def test_patch_dropout_trains_on_fewer_tokens_and_evaluates_on_all():
    model = set_patch_dropout(tiny_timm(), 0.5)
    seen = []
    model.blocks[0].register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    images = torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE)
    model.train()(images)
    model.eval()(images)
    assert seen == [1 + 8, 1 + 16]                   # class token + half of 16 patches, then all
    with pytest.raises(ValueError, match="rate"):
        set_patch_dropout(model, 1.0)


def test_input_size_must_be_a_multiple_of_the_patch():
    with pytest.raises(ValueError, match="multiple of the patch size"):
        set_input_size(tiny_timm(), 20)
    model = set_input_size(tiny_timm(), 48)
    assert model(torch.randn(1, 3, 48, 48)).shape == (1, CLASSES)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_prepares_what_it_trains(method):
    model = prepare(finetuning_copy(tiny_timm(), 3), method, blocks=1, rank=2)
    names = trainable_names(model)
    if method == "linear probe":
        assert names == []
    elif method == "head only":
        assert names == ["head.weight", "head.bias"]
    elif method == "LoRA":
        assert names and all("lora_" in n or "head" in n for n in names)
    elif method == "full":
        assert len(names) == len(list(model.parameters()))
    else:
        assert {n.split(".")[0] for n in names} == {"blocks", "norm", "head"}
    with pytest.raises(ValueError, match="method must be one of"):
        prepare(model, "everything")
