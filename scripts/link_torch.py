"""Give a fresh venv the torch family of another venv by hard links (no copy, no download).

Usage: python scripts/link_torch.py [--pure-only] SRC_VENV DST_VENV

The test matrix (``make test``) builds one venv per version set, all with the torch and
torchvision this machine installs. Unpacking the 5.5 GB CUDA build again for each set would
cost minutes and gigabytes; hard links cost a second. Every file that the RECORD of torch,
torchvision, triton, nvidia-* and cuda-* lists is linked (site-packages and bin/), so pip in
DST sees those distributions installed and ``pip check`` is satisfied. Scripts in bin/ are
copied with their shebang rewritten to DST's python.

``--pure-only`` links only the wheels tagged py3-none (nvidia-*, cuda-pathfinder, cuda-toolkit:
the CUDA libraries), which any Python version can share; torch, torchvision, triton and
cuda-bindings are CPython-specific and then come from pip. Venvs of different Python minors get
``--pure-only`` automatically. Both venvs must be on one filesystem. Nothing may edit the linked
files in place (pip never does: it removes and writes).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

FAMILY = re.compile(r"^(torch|torchvision|triton|nvidia_.*|cuda_.*)-[^-]+\.dist-info$")
PURE = re.compile(r"^(nvidia_.*|cuda_pathfinder|cuda_toolkit)-[^-]+\.dist-info$")


def site_packages(venv: Path) -> Path:
    """The venv's site-packages folder."""
    (folder,) = venv.glob("lib/python3.*/site-packages")
    return folder


def link(src: Path, dst: Path, pure_only: bool = False) -> tuple[int, int, int]:
    """Hard-link the torch family of venv ``src`` into venv ``dst``.

    Returns:
        (distributions, files, scripts) linked or copied.
    """
    src_sp, dst_sp = site_packages(src), site_packages(dst)
    if src_sp.parent.name != dst_sp.parent.name:  # python3.11 vs python3.13
        pure_only = True
    wanted = PURE if pure_only else FAMILY
    files = scripts = dists = 0
    python = str(dst / "bin" / "python")
    for info in sorted(src_sp.iterdir()):
        if not wanted.match(info.name):
            continue
        dists += 1
        for line in (info / "RECORD").read_text().splitlines():
            relative = line.rsplit(",", 2)[0]
            if relative.startswith(".."):  # ../../../bin/torchrun: a console script
                name = Path(relative).name
                source, target = src / "bin" / name, dst / "bin" / name
                if source.exists() and not target.exists():
                    target.write_text(re.sub(r"^#!.*", "#!" + python, source.read_text(),
                                             count=1))
                    target.chmod(0o755)
                    scripts += 1
                continue
            source, target = src_sp / relative, dst_sp / relative
            if not source.is_file() or target.exists():
                continue  # __pycache__ entries that were never written
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
            files += 1
    return dists, files, scripts


def main(argv: list[str]) -> None:
    pure = "--pure-only" in argv
    paths = [a for a in argv if a != "--pure-only"]
    if len(paths) != 2:
        raise SystemExit(__doc__)
    dists, files, scripts = link(Path(paths[0]), Path(paths[1]), pure_only=pure)
    print(f"linked {dists} distributions from {paths[0]}: {files} files, {scripts} scripts")


if __name__ == "__main__":
    main(sys.argv[1:])
