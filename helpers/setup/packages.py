"""Which libraries the course needs, at which versions, and what a runtime lacks.

The bounds are the package's own requirements (``requirements.txt``, mirrored in
``pyproject.toml``): read from the installed package's metadata (Colab installs it with
``--no-deps``), or from ``requirements.txt`` beside a local clone. :func:`install_plan` compares
them with what is installed; :func:`ensure_requirements` installs or upgrades only what is
missing or too old, never torch or torchvision (Colab's builds match its CUDA), and returns one
line saying what it did. Importing this module imports no deep-learning library.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["NEVER_INSTALLED", "Need", "course_requirements", "installed_version", "install_plan",
           "plan_line", "ensure_requirements"]

#: Never installed or upgraded by the setup: Colab's builds match its CUDA and drivers.
NEVER_INSTALLED = frozenset({"torch", "torchvision"})

_DISTRIBUTION = "vit-notebooks"


@dataclass(frozen=True)
class Need:
    """One requirement that the runtime does not meet.

    Attributes:
        requirement: The pip requirement, e.g. ``"timm>=1.0.17"``.
        installed: The installed version, or None when missing.
    """

    requirement: str
    installed: str | None

    @property
    def name(self) -> str:
        from packaging.requirements import Requirement

        return Requirement(self.requirement).name


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def course_requirements() -> list[str]:
    """The course's runtime requirements, as pip requirement strings.

    Read from the installed ``vit-notebooks`` package's metadata, else from the
    ``requirements.txt`` of the clone this package sits in.

    Raises:
        FileNotFoundError: neither is available.
    """
    try:
        found = importlib.metadata.requires(_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        found = []
    lines = [line for line in found if "extra ==" not in line]
    if lines:
        return lines
    path = Path(__file__).resolve().parents[2] / "requirements.txt"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the course's requirements are neither installed "
                                f"({_DISTRIBUTION}) nor in a clone; reinstall the package.")
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("-")]


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def install_plan(version_of: Callable[[str], str | None] = installed_version,
                 requirements: list[str] | None = None) -> list[Need]:
    """The requirements the runtime does not meet (missing, or installed too old).

    Args:
        version_of: Distribution name -> installed version or None (injectable for tests).
        requirements: Requirement strings; default :func:`course_requirements`.

    Returns:
        One :class:`Need` per unmet requirement, torch and torchvision never among them.
    """
    from packaging.requirements import Requirement
    from packaging.version import InvalidVersion, Version

    needs = []
    for line in requirements if requirements is not None else course_requirements():
        requirement = Requirement(line)
        if _normalise(requirement.name) in NEVER_INSTALLED:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        version = version_of(requirement.name)
        try:
            met = version is not None and requirement.specifier.contains(Version(version),
                                                                         prereleases=True)
        except InvalidVersion:
            met = False
        if not met:
            needs.append(Need(line, version))
    return needs


def plan_line(needs: list[Need], installed: bool) -> str:
    """One line saying what was (or would have to be) installed and why."""
    if not needs:
        return "packages: every library the course needs is already installed at a new " \
               "enough version (nothing installed)"
    parts = [f"{need.requirement} (" + ("missing" if need.installed is None
                                        else f"had {need.installed}") + ")" for need in needs]
    if installed:
        return f"packages: installed {', '.join(parts)}; torch and torchvision left as they are"
    command = "pip install " + " ".join(f'"{need.requirement}"' for need in needs)
    return f"packages: {', '.join(parts)} do not meet the course's bounds; run: {command}"


def ensure_requirements(install: bool, *,
                        version_of: Callable[[str], str | None] = installed_version,
                        run: Callable[..., object] = subprocess.run) -> str:
    """Install or upgrade what the runtime lacks (when ``install``), and say so in one line.

    Args:
        install: Run pip (Colab); False only reports what is missing (a local install, whose
            environment the course leaves alone: ``make install`` sets it up).
        version_of: Installed-version lookup (injectable for tests).
        run: Runs the pip command (injectable for tests).

    Returns:
        The one line for the setup cell's report.
    """
    needs = install_plan(version_of)
    if needs and install:
        # pin torch and torchvision where they are, so no dependency can pull in other builds
        pins = [f"{name}=={version_of(name)}" for name in sorted(NEVER_INSTALLED)
                if version_of(name)]
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
            handle.write("\n".join(pins) + "\n")
        try:
            run([sys.executable, "-m", "pip", "install", "-q", "--upgrade-strategy",
                 "only-if-needed", "-c", handle.name, *[need.requirement for need in needs]],
                check=True)
        finally:
            Path(handle.name).unlink(missing_ok=True)
    return plan_line(needs, installed=install)
