"""helpers.maps.rollout against an independent plain-loop reference and known properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.maps.gradients import rollout_fused
from helpers.maps.rollout import (
    DISCARD_RATIOS,
    attention_rollout,
    cls_rollout,
    discard_thresholds,
    fuse_heads,
    rollout_matrix,
)
from helpers.tolerances import DEEP, assert_same_maths


def random_attention(layers=4, batch=2, heads=3, n=10, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, n, n, generator=generator).softmax(-1)
            for _ in range(layers)]


def reference_rollout(attentions, head_fusion="mean", discard_ratio=0.0):
    """Plain loops, one image and one entry at a time; written independently."""
    layers, batch, heads, n = len(attentions), *attentions[0].shape[:3]
    out = torch.zeros(batch, n - 1)
    for b in range(batch):
        joint = None
        for layer in range(layers):
            fused = [[0.0] * n for _ in range(n)]
            for i in range(n):
                for j in range(n):
                    values = [float(attentions[layer][b, h, i, j]) for h in range(heads)]
                    fused[i][j] = {"mean": sum(values) / heads, "max": max(values),
                                   "min": min(values)}[head_fusion]
            drop = int(n * n * discard_ratio)
            if drop:
                candidates = sorted((fused[i][j], i * n + j) for i in range(1, n)
                                    for j in range(1, n))
                for _, flat in candidates[:drop]:
                    fused[flat // n][flat % n] = 0.0
            a = torch.tensor(fused) + torch.eye(n)
            a = a / 2
            a = a / a.sum(dim=-1, keepdim=True)
            joint = a if joint is None else a @ joint
        out[b] = joint[0, 1:]
    return out


@pytest.mark.parametrize("head_fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("discard_ratio", [0.0, 0.5, 0.9])
def test_vectorised_equals_plain_loop_reference(head_fusion, discard_ratio):
    attentions = random_attention()
    got = attention_rollout(attentions, head_fusion, discard_ratio)
    want = reference_rollout(attentions, head_fusion, discard_ratio)
    assert got.shape == (2, 9)
    assert_same_maths(got, want, ulps=DEEP)  # batched matmuls vs a loop, six layers


@pytest.mark.parametrize("discard_ratio", [0.0, 0.3, 0.95])
def test_rows_of_the_rolled_out_matrix_sum_to_one(discard_ratio):
    joint = rollout_matrix(random_attention(layers=6, n=17), "max", discard_ratio)
    torch.testing.assert_close(joint.sum(-1), torch.ones(2, 17))


def test_identity_and_uniform_attention_give_uniform_maps():
    n = 10
    identity = [torch.eye(n).expand(1, 2, n, n)] * 3
    uniform = [torch.full((1, 2, n, n), 1.0 / n)] * 3
    for attentions in (identity, uniform):
        mask = attention_rollout(attentions)[0]
        assert torch.allclose(mask, mask[0].expand_as(mask), atol=1e-7)
    assert attention_rollout(uniform)[0, 0] > 0


def test_batch_equals_one_image_at_a_time_and_order_does_not_matter():
    attentions = random_attention(batch=4)
    together = attention_rollout(attentions, "mean", 0.2)
    for b in range(4):
        alone = attention_rollout([layer[b:b + 1] for layer in attentions], "mean", 0.2)
        assert_same_maths(together[b:b + 1], alone, ulps=DEEP)  # a batch vs one image
    order = torch.tensor([2, 0, 3, 1])
    shuffled = attention_rollout([layer[order] for layer in attentions], "mean", 0.2)
    assert_same_maths(shuffled, together[order], ulps=DEEP)


def test_last_layer_stands_on_the_left():
    a1, a2 = random_attention(layers=2, batch=1, heads=1, n=5)
    eye = torch.eye(5)

    def prep(a):
        m = (a[0, 0] + eye) / 2
        return m / m.sum(-1, keepdim=True)

    joint = rollout_matrix([a1, a2])[0]
    torch.testing.assert_close(joint, prep(a2) @ prep(a1))
    assert not torch.allclose(joint, prep(a1) @ prep(a2))


def test_fuse_heads_and_bad_arguments():
    x = torch.arange(8.0).view(1, 2, 2, 2)
    assert fuse_heads(x, "max").tolist() == [[[4.0, 5.0], [6.0, 7.0]]]
    good = random_attention(layers=2)
    with pytest.raises(ValueError, match="head_fusion"):
        attention_rollout(good, head_fusion="median")
    with pytest.raises(ValueError, match="discard_ratio"):
        attention_rollout(good, discard_ratio=1.0)
    with pytest.raises(ValueError, match="discard_ratio"):
        attention_rollout(good, discard_ratio=-0.1)
    with pytest.raises(ValueError, match=r"\(B, heads, N, N\)"):
        attention_rollout([torch.rand(3, 10, 10)])
    with pytest.raises(ValueError, match="square"):
        attention_rollout([torch.rand(1, 2, 10, 9)])
    with pytest.raises(ValueError, match="same shape"):
        attention_rollout([torch.rand(1, 2, 10, 10), torch.rand(1, 2, 9, 9)])
    with pytest.raises(ValueError, match="non-empty"):
        attention_rollout([])


@settings(max_examples=40, deadline=None)
@given(ratio=st.one_of(st.floats(min_value=-2, max_value=2), st.just(float("nan"))),
       fusion=st.sampled_from(["mean", "max", "min", "avg", ""]))
def test_argument_checks_accept_exactly_the_valid_range(ratio, fusion):
    attentions = random_attention(layers=2, batch=1, n=5)
    valid = (fusion in ("mean", "max", "min")) and (0.0 <= ratio < 1.0)
    if valid:
        joint = rollout_matrix(attentions, fusion, ratio)
        torch.testing.assert_close(joint.sum(-1), torch.ones(1, 5))
    else:
        with pytest.raises(ValueError):
            rollout_matrix(attentions, fusion, ratio)


# ----------------------------------------------------------------- the numpy fast path


def random_fused(layers=6, n=17, seed=0, zeros=False) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)
    fused = torch.randn(layers, n, n, generator=generator).softmax(-1)  # (L, N, N)
    if zeros:  # like clamped gradient maps: many exact zeros
        fused = fused * (torch.rand(layers, n, n, generator=generator) > 0.6)
    return fused.numpy()


@pytest.mark.parametrize("zeros", [False, True])
def test_fast_rollout_equals_the_helper_for_every_ratio_and_range(zeros):
    fused = random_fused(zeros=zeros)
    thresholds = discard_thresholds(fused)
    assert thresholds.shape == (len(DISCARD_RATIOS), 6) == (100, 6)
    assert np.all(np.isneginf(thresholds[0]))  # ratio 0 drops nothing
    for r, ratio in enumerate(DISCARD_RATIOS):
        if r % 7 and ratio not in (0.5, 0.9, 0.95, 0.99):
            continue  # every 7th percent and vit-explain's favourites
        for start, end in [(0, 5), (2, 4), (5, 5)]:
            got = cls_rollout(fused[start:end + 1], thresholds[r, start:end + 1])
            want = rollout_fused(torch.from_numpy(fused[start:end + 1]).unsqueeze(1), ratio)[0]
            assert_same_maths(got, want.numpy(), ulps=DEEP)  # numpy's matmul vs torch's
    np.testing.assert_allclose(cls_rollout(fused), cls_rollout(fused, thresholds[0]))


def test_fast_rollout_bad_arguments():
    with pytest.raises(ValueError, match=r"\(L, N, N\)"):
        cls_rollout(np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match="thresholds"):
        cls_rollout(random_fused(), np.zeros(2))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        discard_thresholds(random_fused(), [0.5, 1.0])
