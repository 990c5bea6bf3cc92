"""helpers.finetune.loop and checkpoints: the plain loop trains, records and evaluates; a run
interrupted and resumed from its safetensors checkpoint ends bit-identical to the uninterrupted
run; checkpoints refuse files that are not theirs."""

from __future__ import annotations

import pytest
import torch
from tiny_vits import tiny_timm

from helpers.finetune.checkpoints import load_checkpoint, save_checkpoint
from helpers.finetune.data import ImageSplit, PixelPipeline
from helpers.finetune.loop import TrainConfig, batch_indices, fit, make_optimizer
from helpers.finetune.methods import finetuning_copy, prepare
from helpers.finetune.precision import Precision

PIPELINE = PixelPipeline(32, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), pad=2)
FLOAT32 = Precision("cpu", None, "tests compare exact float32 runs")


@pytest.fixture(scope="module")
def split() -> ImageSplit:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (24, 3, 16, 16), dtype=torch.uint8, generator=generator)
    return ImageSplit(images, torch.arange(24) % 3, ("a", "b", "c"))


def _model(method: str = "full", drop: float = 0.5) -> torch.nn.Module:
    return prepare(finetuning_copy(tiny_timm(), 3, patch_drop=drop), method, blocks=1, rank=2)


def test_batches_cover_each_epoch_once_and_are_seeded():
    first_epoch = torch.cat([batch_indices(s, 10, 4, seed=0) for s in range(2)])
    assert len(set(first_epoch.tolist())) == 8                 # 2 full batches, no repeats
    assert torch.equal(batch_indices(3, 10, 4, 0), batch_indices(3, 10, 4, 0))
    assert not torch.equal(batch_indices(0, 10, 4, 0), batch_indices(0, 10, 4, 1))
    assert len(batch_indices(5, 3, 8, 0)) == 3                 # fewer images than a batch


def test_optimizer_groups_decay_only_weight_matrices():
    optimizer = make_optimizer(_model(), TrainConfig(steps=2, lr=1e-3, head_lr=1e-2))
    decays = {(g["lr"], g["weight_decay"]) for g in optimizer.param_groups}
    assert decays == {(1e-3, 0.0), (1e-3, 0.05), (1e-2, 0.0), (1e-2, 0.05)}
    with pytest.raises(ValueError, match="no trainable parameter"):
        make_optimizer(_model("linear probe"), TrainConfig(steps=2))


def test_fit_records_evaluations_and_only_trains_what_is_unfrozen(split):
    model = _model("head only")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    history = fit(model, split, TrainConfig(steps=4, batch_size=8, eval_every=2), PIPELINE,
                  val=split, precision=FLOAT32, progress=False, name="head only")
    assert [r["step"] for r in history.records] == [2, 4] and history.steps == 4
    assert all(0.0 <= r["accuracy"] <= 1.0 and r["loss"] > 0 for r in history.records)
    assert history.records[1]["seconds"] >= history.records[0]["seconds"] > 0
    assert history.trainable == 3 * 48 + 3 and history.name == "head only"
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"head.weight", "head.bias"}
    minutes, accuracy = history.curve()
    assert len(minutes) == len(accuracy) == 2


@pytest.mark.parametrize("method", ["full", "LoRA"])
def test_resume_reproduces_the_uninterrupted_run(split, tmp_path, method):
    config = TrainConfig(steps=6, batch_size=8, lr=1e-3, eval_every=3, seed=4)

    def run(**kwargs):
        torch.manual_seed(123)                   # the global state must not matter
        model = _model(method)
        history = fit(model, split, config, PIPELINE, val=split, precision=FLOAT32,
                      progress=False, **kwargs)
        return model, history

    whole, whole_history = run()
    stopped, _ = run(checkpoint=tmp_path / "run.safetensors", stop_after=4)
    assert load_checkpoint(tmp_path / "run.safetensors", _model(method))["step"] == 4
    assert any(not torch.equal(a, b) for a, b in zip(stopped.state_dict().values(),
                                                    whole.state_dict().values(), strict=True))
    resumed, history = run(checkpoint=tmp_path / "run.safetensors", resume=True)
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name                 # same kernels, same order: bit-identical
    assert [r["step"] for r in history.records] == [3, 6]
    assert [r["accuracy"] for r in history.records] == [r["accuracy"]
                                                        for r in whole_history.records]
    assert history.records[1]["loss"] == pytest.approx(whole_history.records[1]["loss"])


def test_checkpoint_round_trip_and_refusals(split, tmp_path):
    model = _model()
    config = TrainConfig(steps=3, batch_size=8)
    fit(model, split, config, PIPELINE, precision=FLOAT32, progress=False,
        checkpoint=tmp_path / "a.safetensors")
    fresh = _model()
    optimizer = make_optimizer(fresh, config)
    state = load_checkpoint(tmp_path / "a.safetensors", fresh, optimizer)
    assert state["step"] == 3 and state["extra"]["config"]["steps"] == 3
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 fresh.state_dict().values(), strict=True))
    assert int(next(iter(optimizer.state.values()))["step"]) == 3
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors", fresh)
    with pytest.raises(ValueError, match="different model"):
        load_checkpoint(tmp_path / "a.safetensors", tiny_timm())
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable"):
        load_checkpoint(tmp_path / "junk.safetensors", fresh)
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a helpers.finetune checkpoint"):
        load_checkpoint(tmp_path / "other.safetensors", fresh)
    with pytest.raises(ValueError, match="resume=True needs"):
        fit(fresh, split, config, PIPELINE, resume=True, progress=False)


def test_save_writes_atomically(tmp_path):
    model = _model()
    optimizer = make_optimizer(model, TrainConfig(steps=1))
    path = save_checkpoint(tmp_path / "deep" / "c.safetensors", model, optimizer, None, 0)
    assert path.is_file() and not list(path.parent.glob("*.partial"))


def test_a_time_budget_stops_the_run_and_anneals_by_the_clock(split, monkeypatch):
    import helpers.finetune.loop as loop

    now = [0.0]

    def clock():                                   # every call advances 0.5 s: a step takes 0.5 s
        now[0] += 0.5
        return now[0]

    monkeypatch.setattr(loop.time, "perf_counter", clock)
    model = _model("head only")
    rates = []
    original = loop._one_step

    def spy(model, train, pipeline, config, step, device, optimizer, *rest):
        rates.append(optimizer.param_groups[0]["lr"])
        return original(model, train, pipeline, config, step, device, optimizer, *rest)

    monkeypatch.setattr(loop, "_one_step", spy)
    history = fit(model, split, TrainConfig(steps=1000, batch_size=8, head_lr=1e-2), PIPELINE,
                  precision=FLOAT32, progress=False, time_limit_s=10.0, schedule_by_time=True)
    assert history.steps == 20 and history.records[-1]["step"] == 20   # stopped by the clock
    assert rates[2] == pytest.approx(1e-2) and rates[-1] < 0.05 * 1e-2   # warmed up, annealed
    with pytest.raises(ValueError, match="needs time_limit_s"):
        fit(model, split, TrainConfig(steps=2), PIPELINE, progress=False, schedule_by_time=True)
