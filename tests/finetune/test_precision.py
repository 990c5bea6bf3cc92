"""helpers.finetune.precision: bfloat16 autocast on a CPU only where /proc/cpuinfo lists native
bfloat16; 16-bit on a GPU; one printed line that says why."""

from __future__ import annotations

import torch

from helpers.finetune.precision import (
    Precision,
    choose_precision,
    cpu_flags,
    cpu_has_native_bf16,
)

INTEL_AMX = """processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile
processor\t: 1
flags\t\t: fpu vme sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile
"""
AVX512_BF16_ONLY = "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n"
OLD_XEON = "flags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n"
ARM = "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 bf16\n"


def test_flags_are_read_from_the_flags_lines():
    assert {"avx512_bf16", "amx_bf16", "avx2"} <= cpu_flags(INTEL_AMX)
    assert cpu_flags("") == set()
    assert "bf16" in cpu_flags(ARM)


def test_native_bf16_needs_avx512_bf16_or_amx_bf16():
    assert cpu_has_native_bf16(INTEL_AMX)
    assert cpu_has_native_bf16(AVX512_BF16_ONLY)
    assert not cpu_has_native_bf16(OLD_XEON)
    assert not cpu_has_native_bf16(ARM)              # ARM's bf16 flag is not one we rely on


def test_cpu_choice_and_its_reason():
    native = choose_precision("cpu", cpuinfo=AVX512_BF16_ONLY)
    assert native.dtype is torch.bfloat16 and native.enabled and not native.needs_scaler
    assert "avx512_bf16" in str(native) and str(native).startswith("precision: bfloat16 on cpu")
    plain = choose_precision("cpu", cpuinfo=OLD_XEON)
    assert plain.dtype is None and not plain.enabled
    assert "slower than float32" in plain.reason and "float32" in str(plain)


def test_gpu_choice():
    bf16 = choose_precision("cuda", cuda_bf16=True)
    assert bf16 == Precision("cuda", torch.bfloat16, bf16.reason) and not bf16.needs_scaler
    fp16 = choose_precision("cuda:0", cuda_bf16=False)
    assert fp16.dtype is torch.float16 and fp16.needs_scaler and "scaler" in fp16.reason


def test_autocast_context_runs_matmuls_in_the_chosen_type():
    x = torch.randn(4, 8)
    with choose_precision("cpu", cpuinfo=INTEL_AMX).autocast():
        assert (x @ x.T).dtype is torch.bfloat16
    with choose_precision("cpu", cpuinfo=OLD_XEON).autocast():
        assert (x @ x.T).dtype is torch.float32


def test_this_machine_gets_a_decision():
    decision = choose_precision("cpu")
    assert decision.enabled == cpu_has_native_bf16()
