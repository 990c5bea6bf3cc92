"""Mixed precision: whether to train and evaluate under ``torch.autocast``, decided at run time.

On a GPU, autocast runs the matrix multiplications in 16 bits: bfloat16 where the card supports
it (Ampere and newer), float16 otherwise (with a gradient scaler against underflow). On a CPU,
bfloat16 pays only where the processor multiplies bfloat16 natively: ``/proc/cpuinfo`` lists
``avx512_bf16`` or ``amx_bf16``. Elsewhere the CPU converts every operand and autocast is slower
than float32, so the course stays in float32 there. :func:`choose_precision` makes that
decision once and says why in one line, for the notebook to print.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["NATIVE_BF16_FLAGS", "Precision", "cpu_flags", "cpu_has_native_bf16",
           "choose_precision"]

#: CPU flags (as ``/proc/cpuinfo`` spells them) that mean native bfloat16 arithmetic.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class Precision:
    """How a training or evaluation step runs.

    Attributes:
        device: ``"cpu"`` or ``"cuda"`` (the autocast device type).
        dtype: ``torch.bfloat16``, ``torch.float16`` or None (plain float32).
        reason: One line saying why, for the notebook to print.
    """

    device: str
    dtype: torch.dtype | None
    reason: str

    @property
    def enabled(self) -> bool:
        """Whether autocast is on."""
        return self.dtype is not None

    @property
    def needs_scaler(self) -> bool:
        """float16 gradients can underflow: scale the loss (``torch.amp.GradScaler``)."""
        return self.dtype == torch.float16

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast context for one forward pass (a no-op in float32)."""
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(self.device, dtype=self.dtype)

    def __str__(self) -> str:
        name = "float32" if self.dtype is None else str(self.dtype).replace("torch.", "")
        return f"precision: {name} on {self.device} ({self.reason})"


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags, from ``/proc/cpuinfo`` (empty where there is none, e.g. macOS).

    Args:
        cpuinfo: The file's text; None reads ``/proc/cpuinfo``.
    """
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        try:
            cpuinfo = path.read_text(errors="replace")
        except OSError:
            return set()
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 / ARM spelling
            flags.update(value.split())
    return flags


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU lists a native bfloat16 instruction set (see :data:`NATIVE_BF16_FLAGS`)."""
    return bool(cpu_flags(cpuinfo) & set(NATIVE_BF16_FLAGS))


def choose_precision(device: str | torch.device, cpuinfo: str | None = None,
                     cuda_bf16: bool | None = None) -> Precision:
    """Decide autocast for ``device``: 16-bit on a GPU, bfloat16 on a CPU only where it is native.

    Args:
        device: Where the model runs.
        cpuinfo: ``/proc/cpuinfo``'s text (None reads the file; tests pass their own).
        cuda_bf16: Whether the GPU supports bfloat16 (None asks torch).

    Returns:
        The :class:`Precision`; ``str()`` of it is the line to print.
    """
    kind = torch.device(device).type
    if kind == "cuda":
        if cuda_bf16 is None:
            cuda_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        if cuda_bf16:
            return Precision("cuda", torch.bfloat16, "the GPU supports bfloat16")
        return Precision("cuda", torch.float16, "this GPU lacks bfloat16: float16 with a "
                         "gradient scaler")
    if kind != "cpu":
        return Precision(kind, None, f"no autocast rule for {kind}")
    found = sorted(cpu_flags(cpuinfo) & set(NATIVE_BF16_FLAGS))
    if found:
        return Precision("cpu", torch.bfloat16,
                         f"the CPU lists {' and '.join(found)}: native bfloat16 arithmetic")
    return Precision("cpu", None, f"the CPU lists neither {' nor '.join(NATIVE_BF16_FLAGS)}, "
                     "so bfloat16 would be emulated and slower than float32")

