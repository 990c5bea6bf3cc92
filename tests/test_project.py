"""The project's install and run files agree with each other."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _requirement_lines(*names: str) -> list[str]:
    """Requirement lines of the files, following ``-r other.txt`` includes (each file once)."""
    lines: list[str] = []
    seen: set[str] = set()

    def read(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("-r "):
                read(line[3:].strip())
            elif line:
                lines.append(line)

    for name in names:
        read(name)
    return lines


def _names(lines: list[str]) -> set[str]:
    return {Requirement(line).name.lower().replace("_", "-") for line in lines}


def test_environment_yml_lists_the_same_packages_as_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict))
    wanted = _requirement_lines("requirements.txt", "requirements-dev.txt")
    assert sorted(pip_section) == sorted(wanted)
    assert any(str(dep).startswith("python") for dep in env["dependencies"])


def test_pyproject_dependencies_match_requirements_txt():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(project["dependencies"]) == sorted(_requirement_lines("requirements.txt"))


def test_constraints_pin_every_requirement_exactly():
    pins = {}
    for line in _requirement_lines("constraints.txt"):
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", line
        pins[req.name.lower().replace("_", "-")] = specs[0].version
    required = _names(_requirement_lines("requirements.txt", "requirements-dev.txt"))
    missing = required - set(pins)
    assert not missing, f"not pinned in constraints.txt: {sorted(missing)}"
    for line in _requirement_lines("requirements.txt", "requirements-dev.txt"):
        req = Requirement(line)
        pinned = pins[req.name.lower().replace("_", "-")]
        assert req.specifier.contains(pinned, prereleases=True), f"{line} excludes pin {pinned}"


def test_requirements_never_force_a_torch_reinstall_in_colab():
    for line in _requirement_lines("requirements.txt"):
        req = Requirement(line)
        if req.name in ("torch", "torchvision"):
            assert all(spec.operator == ">=" for spec in req.specifier), line


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^\s*(time )?make test\s*$", ci, re.M)
    assert "make test" in readme and "make run" in readme
    makefile = (ROOT / "Makefile").read_text()
    for target in ("run", "test", "lab", "install"):
        assert re.search(rf"^{target}:", makefile, re.M), target
