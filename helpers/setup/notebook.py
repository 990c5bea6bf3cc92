"""What the shared setup cell at the top of every notebook does.

The cell itself only makes ``helpers`` importable (installing it in Colab) and then
calls :func:`setup_notebook`, which installs whatever else Colab lacks (never torch),
turns on Colab's widget manager, and prints one short report: library versions,
device, online/offline, and which weights the notebook will use.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from helpers.setup.config import (
    WEIGHTS_ENV,
    data_dir,
    flag,
    smoke,
    stand_in_checkpoint,
    weights_dir,
)
from helpers.setup.korean import detect_edition, use_korean_edition
from helpers.setup.network import check_network
from helpers.setup.packages import ensure_requirements

__all__ = [
    "SETUP_CELL",
    "INSTALL_ENV",
    "Environment",
    "in_colab",
    "weights_plan",
    "setup_notebook",
]

#: The first code cell of every notebook, verbatim (a test checks each notebook against it).
SETUP_CELL = """\
# Setup (the same cell opens every notebook): make the course's `helpers` package importable,
# then report versions, device, network and which weights the models will use.
import os, subprocess, sys
if "google.colab" in sys.modules:  # Colab: install the package, keep Colab's own torch
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "git+https://github.com/vit-notebooks/vit-notebooks"], check=True)
elif "helpers" not in sys.modules:  # a local clone: notebooks/, or notebooks/ko/ (Korean)
    root = ".." if os.path.isdir("../helpers") else "../.."
    if os.path.isdir(f"{root}/helpers"):
        sys.path.insert(0, os.path.abspath(root))
from helpers.setup import setup_notebook
ENV = setup_notebook()"""

_VERSIONS = ("torch", "torchvision", "transformers", "timm", "keras")

#: Set to 1 to install missing libraries outside Colab too (the test matrix uses it).
INSTALL_ENV = "VIT_NOTEBOOKS_INSTALL"


@dataclass(frozen=True)
class Environment:
    """What a notebook runs on, as decided once by :func:`setup_notebook`.

    Attributes:
        colab: Running inside Google Colab.
        online: The model hub is reachable.
        network: One line explaining ``online``.
        weights: One line saying which weights the models will use.
        device: ``"cuda"`` or ``"cpu"``.
        smoke: ``VIT_NOTEBOOKS_SMOKE`` is set (short CI-sized runs).
        data: Folder of offline data (``VIT_NOTEBOOKS_DATA``) or None.
        edition: ``"en"``, or ``"ko"`` for the Korean edition (``notebooks/ko/``).
    """

    colab: bool
    online: bool
    network: str
    weights: str
    device: str
    smoke: bool
    data: Path | None
    edition: str = "en"


def in_colab() -> bool:
    """Whether this kernel runs inside Google Colab."""
    return "google.colab" in sys.modules


def weights_plan(online: bool) -> str:
    """One line saying which weights ``helpers.models.load`` will use.

    Args:
        online: Result of the network probe.
    """
    if online:
        return "weights: the real pretrained checkpoints (downloaded once, then cached)"
    checkpoint = stand_in_checkpoint()
    if checkpoint is not None:
        return (f"weights: offline, so using the stand-in ViT-Tiny/16 ImageNet checkpoint "
                f"{checkpoint} (models already in the local cache load as themselves)")
    folder = weights_dir()
    where = f"{WEIGHTS_ENV} unset" if folder is None else f"nothing usable in {folder}"
    return (f"weights: offline and {where}, so using RANDOM weights (predictions are "
            "meaningless; shapes and code still run)")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _use_inline_figures() -> None:
    """Show figures inline in a Jupyter kernel, whatever ``MPLBACKEND`` says.

    ``MPLBACKEND=Agg`` leaks into kernels and hides every figure; ``%matplotlib inline``
    also registers the display of bare ``Figure`` objects, which the helpers return.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and "ipykernel" in sys.modules:
        shell.run_line_magic("matplotlib", "inline")


def setup_notebook(*, quiet: bool = False) -> Environment:
    """Prepare the kernel and print a short report of what the notebook will use.

    In Colab (or with ``VIT_NOTEBOOKS_INSTALL=1``): installs or upgrades the libraries that
    are missing or older than the course's bounds (never torch or torchvision, see
    :mod:`helpers.setup.packages`) and enables the custom widget manager; elsewhere it only
    says what does not meet the bounds. Everywhere: sets ``KERAS_BACKEND=torch`` unless
    already set (it must be set before keras is imported), restores the inline figure
    backend, probes the network (at most a few seconds, once per kernel) and reports the
    weights that will be used. In the Korean edition (``notebooks/ko/``, see
    :mod:`helpers.setup.korean`) it also registers a Korean font for figures and switches the
    exercise checks' messages to Korean.

    Args:
        quiet: Skip the printed report.

    Returns:
        The :class:`Environment` the rest of the notebook can consult.
    """
    colab = in_colab()
    packages = ensure_requirements(install=colab or flag(INSTALL_ENV))
    if colab:
        from google.colab import output  # type: ignore[import-not-found]

        output.enable_custom_widget_manager()
    os.environ.setdefault("KERAS_BACKEND", "torch")
    _use_inline_figures()
    edition = detect_edition()
    korean = use_korean_edition(install=colab or flag(INSTALL_ENV)) if edition == "ko" else ""

    import torch

    status = check_network()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    env = Environment(colab=colab, online=status.online, network=status.reason,
                      weights=weights_plan(status.online), device=device, smoke=smoke(),
                      data=data_dir(), edition=edition)
    if not quiet:
        versions = " · ".join(f"{name} {_version(name)}" for name in _VERSIONS)
        threads = torch.get_num_threads()
        print(f"python {platform.python_version()} · {versions}")
        print(f"device: {device}" + ("" if device == "cuda" else f" ({threads} threads)")
              + (" · Colab" if colab else "") + (" · smoke mode (CI-sized runs)" if env.smoke
                                                  else ""))
        print(packages)
        print(f"network: {status.reason}")
        print(env.weights)
        if korean:
            print(korean)
    return env
