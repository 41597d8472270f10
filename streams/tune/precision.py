"""Chooses the precision `helpstream tune` trains the encoder in (bf16 only where the CPU computes it natively), and
whether it trains a second time.

Without AVX512_BF16 or AMX_BF16, torch's bf16 autocast on the CPU is emulated through fp32 conversions, and
training becomes an order of magnitude slower than in plain fp32. A training in fp32 costs about twice one in
native bf16, so in fp32 `tune` trains once by default: the second training (on every query, averaged with the
first) bought no quality beyond the spread between seeds (docs/tuning.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from index.cpu import CpuInfo

Precision = Literal["fp32", "bf16"]
Requested = Literal["auto", "fp32", "bf16"]
REQUESTS: tuple[str, ...] = get_args(Requested)


@dataclass(frozen=True)
class Choice:
    precision: Precision
    reason: str

    def describe(self) -> str:
        return f"{self.precision}: {self.reason}"


def choose(cpu: CpuInfo, requested: Requested = "auto") -> Choice:
    """`requested` when it is fp32 or bf16 (the reason says what it costs here), else bf16 if `cpu` has it natively."""
    if requested == "fp32":
        return Choice("fp32", "as asked (--precision fp32)")
    if cpu.native_bf16:
        native = f"this CPU computes it natively ({cpu.bf16_flag})"
        return Choice("bf16", native if requested == "auto" else f"as asked (--precision bf16); {native}")
    missing = f"this CPU has no native bf16 ({cpu.level})"
    slower = "an order of magnitude slower"
    if requested == "bf16":
        return Choice("bf16", f"as asked (--precision bf16), although {missing}: it is emulated, {slower}")
    return Choice("fp32", f"{missing}; bf16 would be emulated, {slower}")


def trainings(precision: Precision, requested: int | None = None) -> int:
    """`requested` (1 or 2), else 2 in bf16 and 1 in fp32."""
    if requested is not None:
        return requested
    return 2 if precision == "bf16" else 1
