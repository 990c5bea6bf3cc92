"""The shared setup cell and helpers.setup.notebook."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from helpers import REPOSITORY
from helpers.setup import notebook as environment
from helpers.setup.notebook import COLAB_PACKAGES, SETUP_CELL, colab_install_commands, weights_plan


def test_colab_install_commands_install_only_what_is_missing_and_never_torch():
    present = {"transformers", "keras", "ipywidgets", "skimage", "sklearn", "tqdm",
               "pytorch_grad_cam", "captum", "peft"}
    commands = colab_install_commands(find_spec=lambda name: object() if name in present else None)
    assert len(commands) == 1
    command = commands[0]
    assert command[:4] == [sys.executable, "-m", "pip", "install"]
    packages = [arg for arg in command[4:] if not arg.startswith("-")]
    assert sorted(packages) == sorted([COLAB_PACKAGES["timm"], COLAB_PACKAGES["safetensors"]])
    assert not any(arg.startswith(("torch", "torchvision")) for arg in command)


def test_colab_install_commands_empty_when_everything_is_there():
    assert colab_install_commands(find_spec=lambda name: object()) == []


def test_setup_cell_in_simulated_colab_installs_package_and_enables_widgets(monkeypatch, capsys):
    """Run the notebooks' setup cell with a fake google.colab module and record commands."""
    calls: list[list[str]] = []
    enabled: list[bool] = []
    colab = types.ModuleType("google.colab")
    output = types.ModuleType("google.colab.output")
    output.enable_custom_widget_manager = lambda: enabled.append(True)
    colab.output = output
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    monkeypatch.setattr(subprocess, "run", lambda cmd, check: calls.append(list(cmd)))
    monkeypatch.setattr(environment, "colab_install_commands",
                        lambda: [[sys.executable, "-m", "pip", "install", "-q", "timm>=1.0.9"]])
    namespace: dict = {}
    exec(SETUP_CELL, namespace)  # noqa: S102 - the cell is the project's own text
    assert calls[0][:4] == [sys.executable, "-m", "pip", "install"]
    assert "--no-deps" in calls[0]
    assert calls[0][-1] == f"git+https://github.com/{REPOSITORY}"
    assert calls[1][-1] == "timm>=1.0.9"
    assert not any("torch" in arg for call in calls for arg in call)
    assert enabled == [True]
    assert namespace["ENV"].colab is True
    assert "weights:" in capsys.readouterr().out


def test_setup_notebook_reports_offline_and_random_weights(monkeypatch, capsys):
    monkeypatch.setenv("VIT_NOTEBOOKS_OFFLINE", "1")
    monkeypatch.delenv("VIT_NOTEBOOKS_WEIGHTS", raising=False)
    environment.check_network.cache_clear()
    try:
        env = environment.setup_notebook()
    finally:
        environment.check_network.cache_clear()
    out = capsys.readouterr().out.splitlines()
    assert env.online is False and env.colab is False
    assert any(line.startswith("network: offline (forced by VIT_NOTEBOOKS_OFFLINE=1)")
               for line in out)
    assert any("RANDOM weights" in line for line in out)
    assert len(out) == 4


def test_weights_plan_names_the_stand_in(tmp_path, monkeypatch):
    (tmp_path / "vit_tiny_patch16_224.safetensors").write_bytes(b"x")
    monkeypatch.setenv("VIT_NOTEBOOKS_WEIGHTS", str(tmp_path))
    assert "stand-in ViT-Tiny/16" in weights_plan(online=False)
    assert "real pretrained" in weights_plan(online=True)
    monkeypatch.setenv("VIT_NOTEBOOKS_WEIGHTS", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="VIT_NOTEBOOKS_WEIGHTS"):
        weights_plan(online=False)
