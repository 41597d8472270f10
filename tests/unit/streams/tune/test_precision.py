"""The training precision: bf16 only where the CPU computes it natively, unless asked otherwise, and why."""

from __future__ import annotations

from index.cpu import CpuInfo
from streams.tune.precision import choose, trainings
from streams.tune.train import Recipe


def cpu(*flags: str) -> CpuInfo:
    return CpuInfo(model="test CPU", cores=2, flags=flags, onnxruntime="1.32.0", torch="2.15.0")


AVX2 = cpu("avx2")
VNNI = cpu("avx2", "avx512f", "avx512_vnni")
BF16 = cpu("avx2", "avx512f", "avx512_vnni", "avx512_bf16")
AMX = cpu("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def test_auto_trains_in_bf16_only_where_the_cpu_has_it_natively() -> None:
    assert choose(BF16).describe() == "bf16: this CPU computes it natively (AVX512_BF16)"
    assert choose(AMX).describe() == "bf16: this CPU computes it natively (AMX_BF16)"
    assert choose(AVX2).describe() == (
        "fp32: this CPU has no native bf16 (AVX2); bf16 would be emulated, an order of magnitude slower"
    )
    assert choose(VNNI, "auto").precision == "fp32" and "(AVX-512 VNNI)" in choose(VNNI).reason


def test_an_explicit_precision_is_honoured_and_the_reason_says_what_it_costs() -> None:
    assert choose(BF16, "fp32").describe() == "fp32: as asked (--precision fp32)"
    forced = choose(AVX2, "bf16")
    assert forced.precision == "bf16" and "as asked" in forced.reason and "emulated" in forced.reason
    assert choose(BF16, "bf16").reason == "as asked (--precision bf16); this CPU computes it natively (AVX512_BF16)"


def test_the_recipe_says_the_precision_it_trains_in() -> None:
    assert Recipe().precision == "fp32" and Recipe().describe().endswith("encoder in fp32")
    assert Recipe(precision="bf16").describe().endswith("encoder in bf16")


def test_fp32_trains_once_and_bf16_twice_unless_asked() -> None:
    assert trainings("fp32") == 1
    assert trainings("bf16") == 2
    assert trainings("fp32", 2) == 2
    assert trainings("bf16", 1) == 1
