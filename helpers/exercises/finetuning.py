"""Exercises of notebook 09 (fine-tuning a pretrained ViT): checks and reference solutions.

A check never trusts the answer: it calls it on inputs it makes itself and compares with what
the libraries themselves do: ``peft`` counts the trainable parameters of real LoRA layers,
PyTorch's own ``LinearLR`` and ``CosineAnnealingLR`` give the schedule, and a real timm ViT
with PatchDropout shows how many tokens reach its first block.

The third exercise is *predict, then verify*: you write a number down before any code runs,
and the check measures it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch

from helpers.exercises import Case, CheckResult, WrongAnswer, check_prediction, run_check

__all__ = [
    "reference_lora_parameters",
    "reference_warmup_cosine_factor",
    "tokens_in_training",
    "check_lora_parameters",
    "check_warmup_cosine_factor",
    "check_token_prediction",
]


# ----------------------------------------------------------------------------- solutions


def reference_lora_parameters(d_in: int, d_out: int, rank: int) -> int:
    """Trainable numbers of one LoRA-adapted ``Linear(d_in, d_out)``: A is (rank, d_in), B is
    (d_out, rank); the layer's own weight and bias stay frozen."""
    return rank * d_in + d_out * rank


def reference_warmup_cosine_factor(step: int, total_steps: int, warmup_steps: int,
                                   floor: float) -> float:
    """The factor of the peak rate at ``step`` (0-based): ``(step + 1) / warmup_steps`` during
    the warm-up, then half a cosine from 1 towards ``floor``, which it would reach at step
    ``total_steps`` (one step after the last)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def tokens_in_training(size: int = 224, patch: int = 16, rate: float = 0.5) -> int:
    """Tokens a timm ViT with PatchDropout feeds its first block in a training step, counted by
    a hook on a real (randomly initialised) model."""
    from timm.models.vision_transformer import VisionTransformer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = VisionTransformer(img_size=size, patch_size=patch, embed_dim=32, depth=1,
                                  num_heads=2, num_classes=2, patch_drop_rate=rate)
        seen: list[int] = []
        handle = model.blocks[0].register_forward_pre_hook(
            lambda _module, args: seen.append(args[0].shape[1]))
        try:
            with torch.no_grad():
                model.train()(torch.zeros(1, 3, size, size))
        finally:
            handle.remove()
    return seen[0]


# ----------------------------------------------------------------------------- checks


def _peft_count(d_in: int, d_out: int, rank: int) -> int:
    """What peft trains when it adapts one ``Linear(d_in, d_out)`` with rank ``rank``."""
    from peft import LoraConfig, get_peft_model

    with torch.random.fork_rng(devices=[]):
        layer = torch.nn.Sequential()
        layer.add_module("proj", torch.nn.Linear(d_in, d_out))
        adapted = get_peft_model(layer, LoraConfig(r=rank, target_modules=["proj"]))
    return sum(p.numel() for p in adapted.parameters() if p.requires_grad)


def check_lora_parameters(fn: Callable[[int, int, int], int]) -> CheckResult:
    """Check ``fn(d_in, d_out, rank)``: the trainable numbers of one LoRA-adapted Linear, as
    ``peft`` counts them on a real layer."""
    shapes = [(192, 576, 8), (768, 2304, 4), (64, 10, 1), (100, 300, 16)]
    cases = [Case(f"Linear({d_in}, {d_out}), rank {r}", (d_in, d_out, r),
                  _peft_count(d_in, d_out, r)) for d_in, d_out, r in shapes]

    def judge(case: Case, got: object) -> float:
        d_in, d_out, rank = case.args
        if not isinstance(got, int | float) or isinstance(got, bool):
            raise WrongAnswer(str(case.want), repr(got)[:60], "return one whole number")
        if got != case.want:
            if got == rank * d_in * d_out:
                hint = ("that is rank copies of the whole matrix; LoRA's update is B A with A "
                        "(rank x d_in) and B (d_out x rank)")
            elif got in (case.want + d_out, case.want + d_in * d_out + d_out):
                hint = "the layer's own weight and bias stay frozen: count only A and B"
            else:
                hint = "count the entries of A (rank x d_in) and of B (d_out x rank)"
            raise WrongAnswer(f"{case.want:,}", f"{got:,}" if isinstance(got, int) else repr(got),
                              hint, abs(case.want - float(got)))
        return 0.0

    return run_check("lora_parameters", fn, cases, judge,
                     "matches peft's count of trainable parameters on 4 real layers")


def _torch_schedule(total: int, warmup: int, floor: float) -> list[float]:
    """Factors from PyTorch's own schedulers: LinearLR for the warm-up, then
    CosineAnnealingLR down to ``floor``."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    warm = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup, end_factor=1.0,
                                             total_iters=warmup - 1)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total - warmup,
                                                        eta_min=floor)
    schedule = torch.optim.lr_scheduler.SequentialLR(optimizer, [warm, cosine],
                                                     milestones=[warmup])
    factors = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's own deprecation notices
        for _ in range(total):
            factors.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
    return factors


def check_warmup_cosine_factor(fn: Callable[[int, int, int, float], float]) -> CheckResult:
    """Check ``fn(step, total_steps, warmup_steps, floor)`` against PyTorch's ``LinearLR`` then
    ``CosineAnnealingLR``."""

    def cases():
        for total, warmup, floor in [(100, 10, 0.0), (57, 5, 0.1), (300, 30, 0.01)]:
            factors = _torch_schedule(total, warmup, floor)
            for step in sorted({0, 1, warmup // 2, warmup - 1, warmup, warmup + 1, total // 2,
                                total - 2, total - 1}):
                yield Case(f"step {step} of {total} (warm-up {warmup}, floor {floor:g})",
                           (step, total, warmup, floor), factors[step])

    def judge(case: Case, got: object) -> float:
        step, _, warmup, _ = case.args
        hint = ("during the warm-up the factor is (step + 1) / warmup_steps (the first step "
                "already moves); afterwards half a cosine from 1 towards floor over the "
                "total_steps - warmup_steps steps after the warm-up")
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise WrongAnswer(f"{case.want:.6g}", repr(got)[:60], hint) from None
        error = abs(value - case.want)
        if not error <= 1e-9:
            if step < warmup and abs(value - step / warmup) <= 1e-9:
                hint = "a warm-up from step / warmup_steps wastes step 0 at factor 0: use step + 1"
            raise WrongAnswer(f"{case.want:.6g}", f"{value:.6g}", hint, error)
        return error

    return run_check("warmup_cosine_factor", fn, cases(), judge,
                     "matches PyTorch's LinearLR + CosineAnnealingLR at 27 steps")


def check_token_prediction(prediction: object, size: int = 224, patch: int = 16,
                           rate: float = 0.5) -> CheckResult:
    """Predict, then verify: tokens reaching the first block in training with PatchDropout."""
    return check_prediction(
        "token_prediction", prediction, tokens_in_training(size, patch, rate), 0.0,
        f"a {size} px image cut into {patch} px patches gives ({size}/{patch})² patch tokens; "
        f"PatchDropout keeps {1 - rate:.0%} of them (rounded down) and never drops the class "
        "token", relative=False, what=f"tokens entering block 0 at {size} px, rate {rate:g}")
