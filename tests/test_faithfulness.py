"""Deletion and insertion curves (helpers.evaluation.faithfulness) on a toy model whose output
depends on one known patch: the perfect map's deletion AUC is the smallest possible and the reversed
map's the largest, a random map's expected curve is the diagonal and a constant map's (ties
broken at random) is the same, batching and de-duplication change nothing, and every wrong
input gets a clear ValueError."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers.evaluation.faithfulness import (
    bootstrap_interval,
    curve_auc,
    curve_fractions,
    deletion_insertion,
    keep_masks,
    patch_order,
    perturb,
    perturbation_curves,
    removal_baseline,
    tied_share,
)
from helpers.tolerances import DEEP, assert_same_maths

SIDE, PATCH, TARGET = 4, 4, 5  # a 4 x 4 grid of 4-pixel patches; patch 5 is the one that counts


class OnePatch(nn.Module):
    """Class 0's logit is high while patch TARGET shows the image (non-zero pixels)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(20.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        row, col = divmod(TARGET, SIDE)
        block = x[:, :, row * PATCH:(row + 1) * PATCH, col * PATCH:(col + 1) * PATCH]
        signal = block.abs().mean(dim=(1, 2, 3))  # (B,): ~0.5 when visible, 0 when grey
        logit = self.scale * signal
        return torch.stack([logit, torch.full_like(logit, 5.0)], dim=-1)  # (B, 2)


@pytest.fixture(scope="module")
def toy() -> tuple[OnePatch, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    pixels = torch.rand(6, 3, SIDE * PATCH, SIDE * PATCH, generator=generator) * 2 - 1
    pixels[pixels.abs() < 0.2] = 0.5  # keep the target patch clearly visible
    return OnePatch().eval(), pixels


def _perfect(batch: int) -> torch.Tensor:
    maps = torch.zeros(batch, SIDE * SIDE)
    maps[:, TARGET] = 1.0
    return maps


def test_perfect_map_has_the_smallest_deletion_auc_and_reversed_the_largest(toy):
    model, pixels = toy
    batch = len(pixels)
    generator = torch.Generator().manual_seed(1)
    maps = {"perfect": _perfect(batch), "reversed": -_perfect(batch)}
    maps.update({f"random {i}": torch.rand(batch, SIDE * SIDE, generator=generator)
                 for i in range(20)})
    for mode in ("deletion", "insertion"):
        curves = perturbation_curves(model, pixels, maps, 0, mode=mode, steps=16,
                                     baseline="grey", batch_size=7)
        aucs = {name: curve_auc(c) for name, c in curves.items()}  # (B,) each
        others = torch.stack([a for n, a in aucs.items() if n.startswith("random")])
        best, worst = ("perfect", "reversed") if mode == "deletion" else ("reversed", "perfect")
        assert (aucs[best] <= others.min(dim=0).values + 1e-9).all(), mode
        assert (aucs[worst] >= others.max(dim=0).values - 1e-9).all(), mode
        # the curve is high until the patch goes: exactly one drop, at step 1 or 16
        visible, hidden = curves["perfect"][:, 0], curves["perfect"][:, -1]
        assert (visible > 0.99).all() if mode == "deletion" else (visible < 0.01).all()
        assert (hidden < 0.01).all() if mode == "deletion" else (hidden > 0.99).all()
    deletion = perturbation_curves(model, pixels, _perfect(batch), 0, steps=16, baseline="grey")
    trapezoids = (deletion[:, 0] + deletion[:, -1]) / 32 + deletion[:, 1:-1].sum(-1) / 16
    assert torch.allclose(curve_auc(deletion), trapezoids.double())


def test_a_random_maps_expected_curve_is_the_diagonal(toy):
    model, pixels = toy
    image = pixels[:1].expand(400, -1, -1, -1)  # one image, 400 random maps
    maps = torch.rand(400, SIDE * SIDE, generator=torch.Generator().manual_seed(2))
    steps = 8
    for mode in ("deletion", "insertion"):
        curves = perturbation_curves(model, image, maps, 0, mode=mode, steps=steps,
                                     baseline="grey", batch_size=256)
        high, low = float(curves[:, 0].mean()), float(curves[:, -1].mean())
        fractions = curve_fractions(steps).float()
        line = high + (low - high) * fractions  # from the first point to the last
        assert (curves.mean(0) - line).abs().max() < 0.06, mode
        assert abs(float(curve_auc(curves).mean()) - (high + low) / 2) < 0.03


def test_batched_curves_equal_a_per_step_loop(toy):
    model, pixels = toy
    maps = torch.rand(len(pixels), SIDE, SIDE, generator=torch.Generator().manual_seed(3))
    baseline = removal_baseline(pixels, "mean")
    batched = perturbation_curves(model, pixels, {"m": maps}, 0, mode="insertion", steps=4,
                                  baseline=baseline, batch_size=5)["m"]
    keep = keep_masks(maps, 4, "insertion")  # (B, 5, P)
    with torch.no_grad():
        loop = torch.stack([torch.stack([model(perturb(pixels[b:b + 1], baseline[b:b + 1],
                                                       keep[b:b + 1, k])).softmax(-1)[0, 0]
                                         for k in range(5)]) for b in range(len(pixels))])
    # batches of 5 against one image at a time: other blocking, other rounding
    assert_same_maths(batched, loop, ulps=DEEP, scale=1.0)  # probabilities
    single = perturbation_curves(model, pixels, maps, 0, mode="insertion", steps=4,
                                 baseline=baseline, batch_size=1)
    assert_same_maths(single, batched, ulps=DEEP, scale=1.0)


def test_a_constant_maps_expected_curve_is_the_random_maps(toy):
    """Ties broken at random: a constant map is a random order, not a raster scan."""
    model, pixels = toy
    image = pixels[:1].expand(600, -1, -1, -1)  # one image, 600 maps of each kind
    steps = 8
    random = torch.rand(600, SIDE * SIDE, generator=torch.Generator().manual_seed(5))
    constant = torch.zeros(600, SIDE * SIDE)
    kept = 1 - curve_fractions(steps).float()  # exact: the target patch is still there
    means = {}
    for name, maps, draws in (("random", random, 1), ("constant", constant, 1),
                              ("constant, 2 draws", constant, 2)):
        curves = perturbation_curves(model, image, maps, 0, steps=steps, baseline="grey",
                                     draws=draws, batch_size=512)
        high, low = float(curves[:, 0].mean()), float(curves[:, -1].mean())
        means[name] = curves.mean(0)
        # 600 Bernoulli draws per point: standard error at most 0.5 / sqrt(600) = 0.02
        assert (means[name] - (low + (high - low) * kept)).abs().max() < 0.07, name
    assert (means["constant"] - means["random"]).abs().max() < 0.1
    # a stable sort instead scans in reading order: the target (patch 5) goes at step 3 of 8
    raster = keep_masks(constant[:1], steps, seed=None)[0, :, TARGET]
    assert raster.tolist() == [True] * 3 + [False] * 6


def test_each_distinct_perturbed_image_is_computed_once(toy):
    model, pixels = toy

    class Counting(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner, self.seen = model, 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.seen += len(x)
            return self.inner(x)

    counting = Counting()
    distinct = torch.rand(len(pixels), SIDE * SIDE, generator=torch.Generator().manual_seed(6))
    one = perturbation_curves(counting, pixels, {"a": distinct, "b": distinct}, 0, steps=4,
                              baseline="grey", draws=3)
    # two ends per image, three inner steps; the second map and the two extra draws are free
    assert counting.seen == len(pixels) * (2 + 3)
    assert torch.equal(one["a"], one["b"])
    counting.seen = 0
    tied = distinct.clone()
    tied[:, :8] = 0.0  # half the patches tied
    perturbation_curves(counting, pixels, tied, 0, steps=4, baseline="grey", draws=3)
    assert len(pixels) * 5 < counting.seen <= len(pixels) * (2 + 3 * 3)
    assert tied_share(tied).tolist() == [0.5] * len(pixels)
    assert tied_share(distinct).tolist() == [0.0] * len(pixels)


def test_one_call_gives_curves_aucs_and_intervals(toy):
    model, pixels = toy
    maps = {"perfect": _perfect(len(pixels)),
            "random": torch.rand(len(pixels), SIDE * SIDE,
                                 generator=torch.Generator().manual_seed(7))}
    result = deletion_insertion(model, pixels, maps, 0, steps=4)
    assert result.removal == {"deletion": "grey", "insertion": "blur"}  # RISE's pairing
    grey = perturbation_curves(model, pixels, maps, 0, steps=4, baseline="grey")
    assert torch.equal(result.curves["deletion"]["perfect"], grey["perfect"])
    mean, low, high = result.interval("deletion", "perfect", against="random")
    paired = curve_auc(grey["perfect"]) - curve_auc(grey["random"])
    assert (mean, low, high) == bootstrap_interval(paired) and mean < 0
    assert deletion_insertion(model, pixels, maps, 0, steps=4, removal="mean").removal == {
        "deletion": "mean", "insertion": "mean"}
    with pytest.raises(ValueError, match="removal must be one of"):
        deletion_insertion(model, pixels, maps, 0, removal="black")


def test_masks_order_and_baselines():
    maps = torch.tensor([[0.1, 0.9, 0.5, 0.5]])
    assert patch_order(maps, seed=None).tolist() == [[1, 2, 3, 0]]  # ties: index order
    orders = {tuple(patch_order(maps, seed=s)[0].tolist()) for s in range(20)}
    assert orders == {(1, 2, 3, 0), (1, 3, 2, 0)}  # ties: either order, seeded
    assert torch.equal(patch_order(maps, seed=3), patch_order(maps, seed=3))
    deletion = keep_masks(maps, 2, seed=None)  # (1, 3, 4): 2 patches a step
    assert deletion[0].tolist() == [[True] * 4, [True, False, False, True], [False] * 4]
    insertion = keep_masks(maps, 4, "insertion")
    assert insertion[0, 1].tolist() == [False, True, False, False]
    assert insertion[0, 2].sum() == 2 and insertion[0, 2, 1]
    pixels = torch.rand(2, 3, 8, 8)
    assert torch.equal(removal_baseline(pixels, "grey"), torch.zeros_like(pixels))
    mean = removal_baseline(pixels, "mean")
    assert torch.allclose(mean[:, :, 3, 5], pixels.mean(dim=(-2, -1)))
    blur = removal_baseline(pixels, "blur", sigma=2.0)
    assert blur.shape == pixels.shape and blur.std() < pixels.std()
    out = perturb(pixels, mean, keep_masks(maps, 4)[:, 1].expand(2, -1))  # patch 1 removed
    assert torch.equal(out[:, :, :4, 4:], mean[:, :, :4, 4:])
    assert torch.equal(out[:, :, 4:, :], pixels[:, :, 4:, :])


def test_auc_and_bootstrap():
    assert float(curve_auc(torch.tensor([1.0, 0.0]))) == 0.5
    assert float(curve_auc(torch.tensor([1.0, 1.0, 1.0]))) == 1.0
    assert torch.allclose(curve_auc(torch.linspace(1, 0, 15)),
                          torch.tensor(0.5, dtype=torch.float64))
    values = torch.randn(200, generator=torch.Generator().manual_seed(4)) + 3
    mean, low, high = bootstrap_interval(values)
    assert low < mean < high and abs(mean - 3) < 0.3 and high - low < 0.5
    assert bootstrap_interval(values) == (mean, low, high)  # seeded
    assert bootstrap_interval([2.0]) == (2.0, 2.0, 2.0)


def test_clear_errors(toy):
    model, pixels = toy
    good = torch.rand(len(pixels), SIDE * SIDE)
    with pytest.raises(ValueError, match=r"pixels must have shape \(B, 3, H, W\)"):
        perturbation_curves(model, pixels[0], good[:1], 0)
    with pytest.raises(ValueError, match="one map per image"):
        perturbation_curves(model, pixels, good[:2], 0, steps=4)
    with pytest.raises(ValueError, match="square g x g grid"):
        perturbation_curves(model, pixels, torch.rand(len(pixels), 15), 0, steps=3)
    with pytest.raises(ValueError, match="steps must be a positive integer that divides the 16"):
        perturbation_curves(model, pixels, good, 0, steps=5)
    with pytest.raises(ValueError, match="mode must be one of deletion, insertion"):
        perturbation_curves(model, pixels, good, 0, steps=4, mode="removal")
    with pytest.raises(ValueError, match="baseline must be one of blur, mean, grey, tokens"):
        perturbation_curves(model, pixels, good, 0, steps=4, baseline="black")
    with pytest.raises(ValueError, match="draws must be a positive integer"):
        perturbation_curves(model, pixels, good, 0, steps=4, draws=0)
    with pytest.raises(ValueError, match="maps hold NaN"):
        perturbation_curves(model, pixels, torch.full_like(good, float("nan")), 0, steps=4)
    with pytest.raises(ValueError, match=r"classes must lie in \[0, 2\)"):
        perturbation_curves(model, pixels, good, 7, steps=4)
    with pytest.raises(ValueError, match="one class per image"):
        perturbation_curves(model, pixels, good, [0, 1], steps=4)
    with pytest.raises(ValueError, match=r"maps\['x'\]"):
        perturbation_curves(model, pixels, {"x": good[:, :3]}, 0, steps=1)
    with pytest.raises(ValueError, match="at least 2 points"):
        curve_auc(torch.tensor([0.5]))
