"""The training loop: plain PyTorch a student can read from top to bottom.

One step: take a batch, augment it and make the model's pixels, run the model (under
autocast where :mod:`helpers.finetune.precision` chose it), compute the cross-entropy with
label smoothing, backpropagate, clip the gradients' total norm, let AdamW update the trainable
parameters, and move the learning-rate schedule on by one step (warm-up, then cosine:
:mod:`helpers.finetune.schedules`).

Every random draw of step ``s`` (the batch order of its epoch, the augmentation, PatchDropout
and dropout) comes from a seed made of ``config.seed`` and ``s``. That is what makes
``fit(..., resume=True)`` continue an interrupted run *exactly*: the checkpoint
(:mod:`helpers.finetune.checkpoints`) restores weights, optimizer and schedule, and the
randomness of the remaining steps is what it would have been.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from helpers.finetune.checkpoints import load_checkpoint, save_checkpoint
from helpers.finetune.data import ImageSplit, PixelPipeline
from helpers.finetune.evaluation import evaluate
from helpers.finetune.precision import Precision
from helpers.finetune.schedules import make_scheduler, time_schedule, warmup_steps_for
from helpers.models.libraries import attention_kernel, logits_of

__all__ = ["TrainConfig", "History", "make_optimizer", "batch_indices", "step_seeds", "fit"]


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained.

    Attributes:
        steps: Optimizer steps in the whole run.
        batch_size: Images per step.
        lr: Peak learning rate of the trained backbone parameters.
        head_lr: Peak learning rate of the head (None: ``lr``). A new head starts from
            nothing and can move faster than pretrained weights should.
        weight_decay: AdamW's decoupled weight decay (not applied to biases, norms and
            embeddings).
        warmup: Share of the steps spent warming up.
        floor: Share of the peak rate the cosine ends at.
        label_smoothing: Probability mass spread over all classes in each target.
        clip_norm: Largest total gradient norm (None: no clipping).
        eval_every: Evaluate on the validation split every this many steps (0: at the end).
        checkpoint_every: Save a checkpoint every this many steps (0: at the end only).
        seed: Seed of every random draw of the run.
    """

    steps: int
    batch_size: int = 64
    lr: float = 1e-4
    head_lr: float | None = None
    weight_decay: float = 0.05
    warmup: float = 0.1
    floor: float = 0.0
    label_smoothing: float = 0.1
    clip_norm: float | None = 1.0
    eval_every: int = 0
    checkpoint_every: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer; got {self.steps!r}.")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {self.batch_size!r}.")


@dataclass
class History:
    """What a run did: one record per evaluation, and its costs.

    Attributes:
        name: The method, for legends.
        records: ``{"step", "seconds", "loss", "accuracy"}`` per evaluation; ``seconds`` is
            training time so far (evaluations excluded), ``loss`` the mean training loss since
            the previous record, ``accuracy`` on the validation split (None without one).
        seconds: Training seconds (evaluations excluded).
        eval_seconds: Seconds spent evaluating.
        steps: Optimizer steps taken.
        trainable: Trainable parameters.
    """

    name: str = ""
    records: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    eval_seconds: float = 0.0
    steps: int = 0
    trainable: int = 0

    def curve(self) -> tuple[list[float], list[float]]:
        """``(minutes, accuracy)`` of the evaluations, for an accuracy-against-time plot."""
        points = [(r["seconds"] / 60, r["accuracy"]) for r in self.records
                  if r.get("accuracy") is not None]
        return [m for m, _ in points], [a for _, a in points]


def _is_head(name: str) -> bool:
    return "head" in name.split(".")


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, in up to four groups: backbone or head, with or
    without weight decay (biases, norm scales, position embeddings and the class token get
    none: decaying them towards 0 only hurts)."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decay = param.ndim >= 2 and not any(k in name for k in ("pos_embed", "cls_token"))
        groups.setdefault((_is_head(name), decay), []).append(param)
    if not groups:
        raise ValueError("the model has no trainable parameter: unfreeze something first "
                         "(helpers.finetune.freezing).")
    head_lr = config.lr if config.head_lr is None else config.head_lr
    return torch.optim.AdamW(
        [{"params": params, "lr": head_lr if head else config.lr,
          "weight_decay": config.weight_decay if decay else 0.0}
         for (head, decay), params in sorted(groups.items())], lr=config.lr)


def batch_indices(step: int, count: int, batch_size: int, seed: int) -> torch.Tensor:
    """The images of step ``step``: a slice of its epoch's random order (seeded per epoch).

    An epoch is ``count // batch_size`` full batches (the few images left over wait for a
    later epoch's order); with fewer images than a batch, every step takes them all.
    """
    if count < 1:
        raise ValueError("the training split holds no images.")
    per_epoch = max(1, count // batch_size)
    epoch, position = divmod(step, per_epoch)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return order[position * batch_size:(position + 1) * batch_size]


def step_seeds(seed: int, step: int) -> tuple[int, int]:
    """The two seeds of step ``step``: one for the augmentation of its batch, one for the
    randomness inside the model (PatchDropout, dropout)."""
    return seed * 1_000_003 + step, seed * 7_919 + step


def fit(model: nn.Module, train: ImageSplit, config: TrainConfig, pipeline: PixelPipeline, *,
        val: ImageSplit | None = None, precision: Precision | None = None,
        checkpoint: str | Path | None = None, resume: bool = False,
        stop_after: int | None = None, time_limit_s: float | None = None,
        schedule_by_time: bool = False, progress: bool = True, name: str = "") -> History:
    """Train ``model`` (its trainable parameters) for ``config.steps`` steps.

    Args:
        model: The classifier, with the parameters to train unfrozen.
        train: Training images.
        config: Steps, rates, regularisation, seed.
        pipeline: Preprocessing; training batches are augmented.
        val: Evaluated every ``config.eval_every`` steps and at the end (clock paused).
        precision: Autocast setting (:func:`~helpers.finetune.precision.choose_precision`).
        checkpoint: Where to save (safetensors); written at the end, every
            ``config.checkpoint_every`` steps and when stopping early.
        resume: Continue from ``checkpoint`` (it must exist) instead of starting afresh.
        stop_after: Stop after this many steps in *this* call, as if interrupted (the
            checkpoint is saved); resuming later finishes the run.
        time_limit_s: Stop once training time exceeds this many seconds.
        schedule_by_time: Drive the warm-up and cosine by the share of ``time_limit_s`` used
            instead of the share of ``config.steps`` (then an upper bound): the rate reaches
            its floor when the time is up, however fast the steps turn out to be (for runs
            with a wall-clock budget on a machine whose speed varies).
        progress: Show a tqdm bar.
        name: The method's name, for the bar and the history.

    Returns:
        The :class:`History` (of the whole run, when resumed).
    """
    from helpers.finetune.freezing import count_parameters

    device = next(model.parameters()).device
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config.steps,
                               warmup_steps_for(config.steps, config.warmup), config.floor)
    scaler = torch.amp.GradScaler("cuda") if precision and precision.needs_scaler else None
    history = History(name=name, trainable=count_parameters(model)[0])
    start_step, losses = 0, []
    if resume:
        if checkpoint is None:
            raise ValueError("resume=True needs the checkpoint path to resume from.")
        state = load_checkpoint(checkpoint, model, optimizer, scheduler)
        start_step, history.records = state["step"], state["history"]
        history.seconds = state["extra"].get("seconds", 0.0)
        history.eval_seconds = state["extra"].get("eval_seconds", 0.0)
        losses = list(state["extra"].get("losses", []))  # since the last record
    if schedule_by_time and time_limit_s is None:
        raise ValueError("schedule_by_time=True needs time_limit_s, the time to schedule over.")
    trainable = [p for p in model.parameters() if p.requires_grad]
    end = config.steps if stop_after is None else min(config.steps, start_step + stop_after)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=start_step, desc=name or "training", unit="step")
    model.train()
    step = start_step
    # Training on a CPU runs attention as explicit matrix products: measured here (Xeon with
    # AMX, 2 threads, bfloat16, ViT-Tiny at 224 px, batch 64) a step took 0.53 s that way and
    # 0.77 s with PyTorch's fused kernel (its backward pass is slow on CPUs); 0.77 / 1.28 s
    # with half the patches dropped. GPUs use the fused kernel.
    with attention_kernel(model, fused=device.type != "cpu"):
        while step < end:
            clock = time.perf_counter()
            if schedule_by_time:  # the factor of the share of the time used so far
                factor = time_schedule(history.seconds / time_limit_s, config.warmup,
                                       config.floor)
                for group, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
                    group["lr"] = base * factor
            loss = _one_step(model, train, pipeline, config, step, device, optimizer,
                             None if schedule_by_time else scheduler, scaler, trainable,
                             precision)
            step += 1
            losses.append(loss)
            history.seconds += time.perf_counter() - clock
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}", lr=f"{scheduler.get_last_lr()[0]:.1e}")
            due = config.eval_every and step % config.eval_every == 0
            out_of_time = time_limit_s is not None and history.seconds >= time_limit_s
            if due or step == config.steps or (out_of_time and step < config.steps):
                _record(history, model, step, losses, val, pipeline, precision)
                losses = []
            if checkpoint is not None and (step == end or out_of_time or (
                    config.checkpoint_every and step % config.checkpoint_every == 0)):
                save_checkpoint(checkpoint, model, optimizer, scheduler, step, history.records,
                                {"config": asdict(config), "seconds": history.seconds,
                                 "eval_seconds": history.eval_seconds, "name": name,
                                 "losses": losses})
            if out_of_time:
                break
    if bar is not None:
        bar.close()
    model.eval()
    history.steps = step
    return history


def _one_step(model: nn.Module, train: ImageSplit, pipeline: PixelPipeline,
              config: TrainConfig, step: int, device: torch.device,
              optimizer: torch.optim.Optimizer, scheduler: Any, scaler: Any,
              trainable: list[nn.Parameter], precision: Precision | None) -> float:
    """One optimizer step; returns its loss."""
    index = batch_indices(step, len(train), config.batch_size, config.seed)  # (b,)
    augment_seed, forward_seed = step_seeds(config.seed, step)
    pixels = pipeline(train.images[index].to(device), train=True,
                      generator=torch.Generator().manual_seed(augment_seed))
    labels = train.labels[index].to(device)  # (b,)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # PatchDropout and dropout: seeded per step
        torch.manual_seed(forward_seed)
        with precision.autocast() if precision else contextlib.nullcontext():
            logits = logits_of(model(pixels))  # (b, classes)
        loss = F.cross_entropy(logits.float(), labels, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
    if config.clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(trainable, config.clip_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    if scheduler is not None:
        scheduler.step()
    return float(loss.detach())


def _record(history: History, model: nn.Module, step: int, losses: list[float],
            val: ImageSplit | None, pipeline: PixelPipeline,
            precision: Precision | None) -> None:
    accuracy = None
    if val is not None:
        result = evaluate(model, val, pipeline, precision)
        history.eval_seconds += result.seconds
        accuracy = result.accuracy
        model.train()
    history.records.append({"step": step, "seconds": history.seconds,
                            "loss": sum(losses) / len(losses) if losses else None,
                            "accuracy": accuracy})
