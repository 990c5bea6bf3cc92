"""Safe-loading and hygiene rules for the package, scripts and notebooks.

Checkpoints load only through safetensors or ``torch.load(weights_only=True)``; nothing
runs remote code, evaluates strings or spawns a shell; everything is ruff-clean.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent

UNSAFE = {
    "pickle.load": re.compile(r"\bpickle\.loads?\("),
    "torch.load without weights_only=True":
        re.compile(r"\btorch\.load\((?![^)]*weights_only=True)"),
    "trust_remote_code=True": re.compile(r"trust_remote_code\s*=\s*True"),
    "eval(": re.compile(r"(?<![.\w])eval\("),
    "exec(": re.compile(r"(?<![.\w])exec\("),
    "shell=True": re.compile(r"shell\s*=\s*True"),
    "os.system": re.compile(r"\bos\.system\("),
    "yaml.load without SafeLoader": re.compile(r"\byaml\.load\((?![^)]*SafeLoader)"),
}


def _sources() -> list[tuple[str, str]]:
    files = [*sorted((ROOT / "helpers").rglob("*.py")), *sorted((ROOT / "scripts").glob("*.py"))]
    sources = [(str(path.relative_to(ROOT)), path.read_text()) for path in files]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "code":
                sources.append((f"{path.name} cell {index}", cell.source))
    return sources


def test_the_scan_sees_every_module_and_notebook():
    names = {name for name, _ in _sources()}
    assert "helpers/models/loading.py" in names and "scripts/run_notebooks.py" in names
    assert any(name.startswith("01_") for name in names)


@pytest.mark.parametrize("rule", list(UNSAFE))
def test_no_unsafe_pattern(rule):
    pattern = UNSAFE[rule]
    hits = [f"{name}: {line.strip()}" for name, text in _sources()
            for line in text.splitlines() if pattern.search(line) and "# safe:" not in line]
    assert not hits, f"{rule} found:\n" + "\n".join(hits)


@pytest.mark.parametrize(("rule", "bad", "good"), [
    ("pickle.load", "data = pickle.load(f)", "data = json.load(f)"),
    ("torch.load without weights_only=True", "torch.load(path)",
     "torch.load(path, weights_only=True)"),
    ("trust_remote_code=True", "from_pretrained(n, trust_remote_code=True)",
     "from_pretrained(n)"),
    ("eval(", "eval('1+1')", "model.eval()"),
    ("shell=True", "subprocess.run(cmd, shell=True)", "subprocess.run(cmd)"),
])
def test_the_patterns_catch_what_they_should(rule, bad, good):
    assert UNSAFE[rule].search(bad) and not UNSAFE[rule].search(good)


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "helpers", "scripts", "tests"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
