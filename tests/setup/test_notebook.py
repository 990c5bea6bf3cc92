"""The shared setup cell and helpers.setup.notebook."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from helpers import REPOSITORY
from helpers.setup import notebook as environment
from helpers.setup.notebook import SETUP_CELL, weights_plan

# Touches a third-party library's API: runs in every version set (see conftest.py).
pytestmark = pytest.mark.api


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
    monkeypatch.setattr(environment, "ensure_requirements",
                        lambda install: calls.append(["ensure", str(install)]) or "packages: x")
    namespace: dict = {}
    exec(SETUP_CELL, namespace)  # noqa: S102 - the cell is the project's own text
    assert calls[0][:4] == [sys.executable, "-m", "pip", "install"]
    assert "--no-deps" in calls[0]
    assert calls[0][-1] == f"git+https://github.com/{REPOSITORY}"
    assert calls[1] == ["ensure", "True"]  # in Colab the setup installs what is missing
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
    assert len(out) == 5 and out[2].startswith("packages: ")


def test_weights_plan_names_the_stand_in(tmp_path, monkeypatch):
    (tmp_path / "vit_tiny_patch16_224.safetensors").write_bytes(b"x")
    monkeypatch.setenv("VIT_NOTEBOOKS_WEIGHTS", str(tmp_path))
    assert "stand-in ViT-Tiny/16" in weights_plan(online=False)
    assert "real pretrained" in weights_plan(online=True)
    monkeypatch.setenv("VIT_NOTEBOOKS_WEIGHTS", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="VIT_NOTEBOOKS_WEIGHTS"):
        weights_plan(online=False)
