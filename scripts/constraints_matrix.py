"""Write every version set's constraint file from its sources, and list the sets.

Usage:
    python scripts/constraints_matrix.py write          # (re)write constraints/<set>.txt
    python scripts/constraints_matrix.py check          # exit 1 if a committed file is stale
    python scripts/constraints_matrix.py sets [--all]   # the default matrix (or every set)
    python scripts/constraints_matrix.py python SET     # the Python a set runs on ("" = default)

``make constraints-matrix`` runs ``write``; ``tests/test_constraints_matrix.py`` fails when a
committed file differs from what ``write`` would produce. This file is the one place that names
the Colab runtimes; the Makefile asks it for the matrix.

Where each pin comes from (no resolver runs: the same inputs always give the same files):

* **A Colab set** (``colab-<date>``): every ``name==version`` of that runtime's ``pip freeze``
  (``tests/data/colab/colab-<date>.txt``, from googlecolab/backend-info), except
  - direct-URL lines (``name @ https://...``: Colab's own builds) and torch's family
    (torch, torchvision, torchaudio, triton, nvidia-*, cuda-*): every set runs the torch this
    machine installs, hard-linked from ``.venv`` (``scripts/link_torch.py``), so those come from
    ``constraints.txt``;
  - Colab pins older than what that torch needs (``TORCH_NEEDS``), and pins that exist only for
    a newer Python than ours (``NEWER_PYTHON``), each named with its reason in the file's header.
  What the setup cell installs because Colab lacks it (``SETUP_INSTALLS``: grad-cam, captum and
  grad-cam's ttach) takes the pinned set's version from ``constraints.txt``; the test tools
  Colab lacks (nbval, pytest-xdist, ...) are left to pip, within Colab's pins.
* **lowest**: every requirement of ``requirements.txt`` and ``requirements-test.txt`` at its
  lower bound, torch's family from ``constraints.txt``; pip resolves the rest.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLAB = ROOT / "tests" / "data" / "colab"
OUT = ROOT / "constraints"


@dataclass(frozen=True)
class VersionSet:
    """One set of the test matrix.

    Attributes:
        name: constraints/<name>.txt and .venvs/<name>.
        title: what the set stands for, one line.
        python: the Python minor it runs on where this machine has it ("" = the default python3).
        default: whether ``make test`` runs it.
        source: where its pins come from (a Colab freeze's backend-info commit and date).
    """

    name: str
    title: str
    python: str
    default: bool
    source: str = ""


SETS = (
    VersionSet("colab-2026.08", "Colab now (2026.08): transformers 5, timm 1.0.28, keras 3.13",
               "3.13", True, "backend-info a724079, 2026-08-19, Python 3.13"),
    VersionSet("colab-2026.01", "Colab 2026.01 (also 2025.10's transformers 4.57: "
               "output_attentions under sdpa gives None)", "", True,
               "backend-info b9508c7, 2026-01-28, Python 3.12"),
    VersionSet("lowest", "the lowest versions requirements.txt admits (transformers 4.53.0, "
               "timm 1.0.17, keras 3.5, numpy 1.26)", "", True),
    VersionSet("colab-2025.07", "Colab 2025.07, the oldest supported runtime (transformers 4.53.2)",
               "", False, "backend-info 5f08066, 2025-07-18, Python 3.11"),
    VersionSet("colab-2025.10", "Colab 2025.10 (transformers 4.57, as 2026.01)", "", False,
               "backend-info c992217, 2025-10-08, Python 3.12"),
)

TORCH_FAMILY = re.compile(r"^(torch|torchvision|torchaudio|triton|nvidia-.*|cuda-.*)$")
# What torch 2.14.1 (every set's torch) requires at least, where a Colab runtime ships older.
TORCH_NEEDS = {"setuptools": "77.0.3", "sympy": "1.13.3"}
# Colab pins whose release needs a newer Python than every set may run on: set -> {package: min}.
NEWER_PYTHON = {"colab-2026.08": {"tifffile": "3.12"}}
# Not in any Colab runtime; the setup cell installs them (ttach comes with grad-cam).
SETUP_INSTALLS = ("grad-cam", "captum", "ttach")
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.\-]+)\s*>=\s*([0-9][^\s,;#]*)")


def canonical(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one dash."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:4])


def read_pins(path: Path) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """``name==version`` lines of a freeze: canonical name -> (name as written, version).

    Returns:
        The pins, and the names of the direct-URL lines that were left out.
    """
    pins: dict[str, tuple[str, str]] = {}
    urls: list[str] = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if " @ " in line:
            urls.append(line.split(" @ ")[0].strip())
            continue
        name, _, version = line.partition("==")
        if not version:
            raise ValueError(f"{path}: cannot read the line {line!r} (expected name==version)")
        pins[canonical(name)] = (name.strip(), version.strip())
    return pins, urls


def lower_bounds(*paths: Path) -> list[tuple[str, str]]:
    """(name, lower bound) of every ``name>=version`` requirement, in file order."""
    bounds = []
    for path in paths:
        for line in path.read_text().splitlines():
            match = REQUIREMENT.match(line.strip())
            if match:
                bounds.append((match.group(1), match.group(2)))
    return bounds


def _wrap(text: str, indent: str = "#   ") -> list[str]:
    """Comment lines of at most 100 characters."""
    lines, line = [], "#"
    for word in text.split():
        if len(line) + 1 + len(word) > 100:
            lines.append(line)
            line = indent.rstrip()
        line += " " + word
    lines.append(line)
    return lines


def colab_set(version_set: VersionSet, pinned: dict[str, tuple[str, str]]) -> str:
    """The constraint file of one Colab set (see the module docstring)."""
    freeze, urls = read_pins(COLAB / f"{version_set.name}.txt")
    header = [f"# {version_set.title}.",
              f"# Source: tests/data/colab/{version_set.name}.txt ({version_set.source}).",
              "# Written by scripts/constraints_matrix.py (make constraints-matrix): do not edit."]
    body: dict[str, str] = {}
    notes: list[str] = []
    for key, (name, version) in sorted(freeze.items()):
        if TORCH_FAMILY.match(key):
            continue
        needed = TORCH_NEEDS.get(key)
        if needed and _version_tuple(version) < _version_tuple(needed):
            notes.append(f"{name}=={version} dropped (torch {pinned['torch'][1]} needs "
                         f"{name}>={needed});")
            continue
        newer = NEWER_PYTHON.get(version_set.name, {}).get(key)
        marker = f' ; python_version >= "{newer}"' if newer else ""
        if newer:
            notes.append(f"{name}=={version} only on Python >= {newer} (it needs it);")
        body[key] = f"{name}=={version}{marker}"
    family = sorted(k for k in pinned if TORCH_FAMILY.match(k))
    added = [k for k in SETUP_INSTALLS if k not in freeze]
    for key in family + added:
        body[key] = "{}=={}".format(*pinned[key])
    colab_torch = [n for n in urls if TORCH_FAMILY.match(canonical(n))]
    colab_torch += [n for k, (n, _) in freeze.items() if TORCH_FAMILY.match(k)]
    header += _wrap(f"Torch's family from constraints.txt, as on every set (Colab's own builds "
                    f"left out: {', '.join(sorted(colab_torch))}).")
    other_urls = sorted(n for n in urls if not TORCH_FAMILY.match(canonical(n)))
    if other_urls:
        header += _wrap(f"Direct-URL lines left out: {', '.join(other_urls)}.")
    for note in notes:
        header += _wrap(note)
    header += _wrap("Not in Colab's freeze: what the setup cell installs, at the pinned set's "
                    f"version ({', '.join(added)}); pip resolves the test tools within these pins.")
    return "\n".join(header + [body[k] for k in sorted(body)]) + "\n"


def lowest_set(version_set: VersionSet, pinned: dict[str, tuple[str, str]]) -> str:
    """The lowest set: every requirement at its lower bound, torch's family as everywhere."""
    header = [f"# {version_set.title}.",
              "# Every requirement of requirements.txt and requirements-test.txt at its lower",
              "#   bound; torch's family from constraints.txt; pip resolves the rest.",
              "# Written by scripts/constraints_matrix.py (make constraints-matrix): do not edit."]
    lines = []
    for name, bound in lower_bounds(ROOT / "requirements.txt", ROOT / "requirements-test.txt"):
        if TORCH_FAMILY.match(canonical(name)):
            continue
        lines.append(f"{name}=={bound}")
    family = sorted(k for k in pinned if TORCH_FAMILY.match(k))
    lines += ["{}=={}".format(*pinned[k]) for k in family]
    return "\n".join(header + lines) + "\n"


def expected_files() -> dict[Path, str]:
    """constraints/<set>.txt -> the text ``write`` gives it."""
    pinned, _ = read_pins(ROOT / "constraints.txt")
    files = {}
    for version_set in SETS:
        build = lowest_set if version_set.name == "lowest" else colab_set
        files[OUT / f"{version_set.name}.txt"] = build(version_set, pinned)
    return files


def stale_files() -> list[str]:
    """Names of committed constraint files that differ from their sources, or are missing/extra."""
    expected = expected_files()
    stale = [p.name for p, text in expected.items()
             if not p.is_file() or p.read_text() != text]
    stale += [p.name for p in OUT.glob("*.txt") if p not in expected]
    return sorted(stale)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    command = argv[0]
    if command == "write":
        for path in OUT.glob("*.txt"):
            path.unlink()
        for path, text in expected_files().items():
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
        return 0
    if command == "check":
        stale = stale_files()
        for name in stale:
            print(f"constraints/{name} is stale: run make constraints-matrix")
        return 1 if stale else 0
    if command == "sets":
        print(" ".join(s.name for s in SETS if s.default or "--all" in argv))
        return 0
    if command == "python" and len(argv) == 2:
        found = [s.python for s in SETS if s.name == argv[1]]
        if not found:
            print(f"unknown set {argv[1]!r}; sets: {' '.join(s.name for s in SETS)}",
                  file=sys.stderr)
            return 2
        print(found[0])
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
