"""Which floating-point type a model runs in: ``auto`` picks bfloat16 only where the hardware
computes it natively.

bfloat16 halves memory traffic, but a CPU without bf16 instructions emulates every bf16 matrix
product in float32 and converts on the way in and out: on a 2-core Xeon with AVX-512 but no
AVX512-BF16, ``classify`` ran 10.4 documents/s in bfloat16 against 36.3 in float32. So ``auto``
is bfloat16 on a GPU that supports it and on a CPU with AVX512-BF16, AMX-BF16 or Arm's BF16
extension, and float32 everywhere else.
"""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Literal

Dtype = Literal["float32", "bfloat16", "float16"]
DtypeChoice = Literal["auto", "float32", "bfloat16", "float16"]
CONCRETE: dict[str, Dtype] = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}

# /proc/cpuinfo flags (x86) and Features (aarch64) of native bf16 arithmetic
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as the kernel names them (empty where they cannot be read)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        flags: set[str] = set()
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("flags", "Features"):
                flags.update(value.split())
        return frozenset(flags)
    if platform.system() == "Darwin":  # Apple M2 and later report FEAT_BF16
        try:
            found = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"],
                                   capture_output=True, text=True, timeout=5, check=False)
        except OSError:
            return frozenset()
        return frozenset({"bf16"}) if found.stdout.strip() == "1" else frozenset()
    return frozenset()


def cpu_has_native_bf16() -> bool:
    return any(flag in cpu_flags() for flag in BF16_CPU_FLAGS)


def cpu_features_line() -> str:
    """The features a CPU figure depends on, for benchmark output: e.g.
    ``AMD EPYC, 2 cores, avx2 avx512f avx512_bf16``."""
    import os

    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "bf16")
    present = [flag for flag in wanted if flag in cpu_flags()]
    return f"{model}, {os.cpu_count()} cores, {' '.join(present) or 'no bf16 or AVX flags'}"


def native_bf16(device: str) -> bool:
    """Whether ``device`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) computes bfloat16 natively."""
    import torch

    kind = torch.device(device).type
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if kind == "cpu":
        return cpu_has_native_bf16()
    return False


def resolve_dtype(dtype: DtypeChoice | str, device: str) -> Dtype:
    """The concrete dtype for ``device``: ``auto`` becomes bfloat16 where it is native, else
    float32; an explicit choice is kept."""
    if dtype == "auto":
        return "bfloat16" if native_bf16(device) else "float32"
    if dtype not in CONCRETE:
        raise ValueError(f"unknown dtype {dtype!r}: auto, float32, bfloat16 or float16")
    return CONCRETE[dtype]
