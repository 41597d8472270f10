"""What CPU this process runs on: its model, the cores it may use, the instruction sets that decide int8 and bf16
speed, and the onnxruntime and torch versions; so every figure can say where it was measured.

Instruction-set levels, from the best: `AMX` (AMX tiles, with AVX-512 VNNI and BF16 beside them), `AVX-512 VNNI +
BF16`, `AVX-512 VNNI`, `AVX-512`, `AVX2 VNNI` (AVX-VNNI without AVX-512), `AVX2`, `below AVX2`, and `unknown`
when no flags could be read (not Linux, or /proc/cpuinfo unreadable).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CPUINFO = Path("/proc/cpuinfo")
# The flags that change which kernels onnxruntime and torch run, in the order they are reported.
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
_ALIASES = {"avx512vnni": "avx512_vnni", "avxvnni": "avx_vnni", "avx512bf16": "avx512_bf16"}
NOT_INSTALLED = "not installed"


@dataclass(frozen=True)
class CpuInfo:
    model: str
    cores: int
    flags: tuple[str, ...]
    onnxruntime: str
    torch: str
    flags_read: bool = True

    @property
    def vnni(self) -> bool:
        """int8 dot products in one instruction (VPDPBUSD), without the 16-bit saturation of AVX2's VPMADDUBSW."""
        return "avx512_vnni" in self.flags or "avx_vnni" in self.flags

    @property
    def native_bf16(self) -> bool:
        """bf16 matrix products in hardware; without them torch emulates bf16 through fp32, far slower."""
        return "avx512_bf16" in self.flags or "amx_bf16" in self.flags

    @property
    def bf16_flag(self) -> str | None:
        """The flag that makes bf16 native, as Intel spells it (`AMX_BF16`, `AVX512_BF16`), or None."""
        for flag in ("amx_bf16", "avx512_bf16"):
            if flag in self.flags:
                return flag.upper()
        return None

    @property
    def level(self) -> str:
        if not self.flags_read:
            return "unknown"
        if "amx_bf16" in self.flags or "amx_int8" in self.flags:
            return "AMX"
        if "avx512f" in self.flags:
            base = "AVX-512"
        elif "avx2" in self.flags:
            base = "AVX2"
        else:
            return "below AVX2"
        return base + (" VNNI" if self.vnni else "") + (" + BF16" if self.native_bf16 else "")

    def describe(self) -> str:
        """One line, e.g. `AMD EPYC, 2 cores, AVX-512 VNNI + BF16 (onnxruntime 1.32.0, torch 2.15.0)`."""
        cores = f"{self.cores} core{'s' if self.cores != 1 else ''}"
        return f"{self.model}, {cores}, {self.level} (onnxruntime {self.onnxruntime}, torch {self.torch})"

    def as_dict(self) -> dict[str, Any]:
        """The record bench, budget and tune write into their JSON (`machine`)."""
        return {
            "cpu": self.model,
            "cores": self.cores,
            "isa": self.level,
            "flags": list(self.flags),
            "onnxruntime": self.onnxruntime,
            "torch": self.torch,
            "description": self.describe(),
        }


def parse(cpuinfo: str | None, *, cores: int, onnxruntime: str, torch: str, processor: str = "") -> CpuInfo:
    """A `CpuInfo` from the text of /proc/cpuinfo (the first processor's lines), or from `processor`
    (`platform.processor()`) with no flags when there is no such text."""
    model, found, read = "", set[str](), False
    for line in (cpuinfo or "").splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags":
            found, read = {_ALIASES.get(flag, flag) for flag in value.split()}, True
            if model:
                break
    return CpuInfo(
        model=model or processor.strip() or "unknown CPU",
        cores=cores,
        flags=tuple(flag for flag in FLAGS if flag in found),
        onnxruntime=onnxruntime,
        torch=torch,
        flags_read=read,
    )


def version(distribution: str) -> str:
    """The installed version of `distribution`, read from its metadata: nothing is imported."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return NOT_INSTALLED


@functools.cache
def this_cpu() -> CpuInfo:
    """The CPU of this process, read once."""
    try:
        text: str | None = CPUINFO.read_text()
    except OSError:
        text = None
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    processor = "" if text and "model name" in text else platform.processor() or platform.machine()
    return parse(text, cores=cores, onnxruntime=version("onnxruntime"), torch=version("torch"), processor=processor)
