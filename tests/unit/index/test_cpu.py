"""What CPU a figure was measured on: model, cores, the instruction-set level and the flags, from /proc/cpuinfo."""

from __future__ import annotations

from index.cpu import CpuInfo, parse, this_cpu


def cpuinfo(model: str, flags: str, processors: int = 2) -> str:
    """/proc/cpuinfo as Linux writes it: one block per logical processor."""
    block = (
        "processor\t: {n}\nvendor_id\t: x\ncpu family\t: 6\nmodel name\t: {model}\nstepping\t: 7\n"
        "cpu MHz\t\t: 2999.998\nflags\t\t: {flags}\nbogomips\t: 5999.99\n\n"
    )
    return "".join(block.format(n=n, model=model, flags=flags) for n in range(processors))


BASE = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall"
AVX2 = f"{BASE} nx lm constant_tsc rep_good nopl sse3 ssse3 fma cx16 sse4_1 sse4_2 popcnt aes xsave avx f16c avx2 bmi2"
EPYC_ZEN2 = cpuinfo("AMD EPYC 7R32", f"{AVX2} sha_ni clzero xsaveerptr rdpru")
XEON_CASCADE_LAKE = cpuinfo(
    "Intel(R) Xeon(R) Platinum 8275CL CPU @ 3.00GHz",
    f"{AVX2} avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni md_clear flush_l1d arch_capabilities",
)
XEON_SAPPHIRE_RAPIDS = cpuinfo(
    "Intel(R) Xeon(R) Platinum 8488C",
    f"{AVX2} avx512f avx512dq avx512cd avx512bw avx512vl avx_vnni avx512_bf16 avx512_vnni avx512_fp16 amx_bf16 "
    "amx_tile amx_int8",
)
VERSIONS = {"onnxruntime": "1.32.0", "torch": "2.15.0"}


def test_an_avx2_only_epyc_has_neither_vnni_nor_native_bf16() -> None:
    cpu = parse(EPYC_ZEN2, cores=2, **VERSIONS)
    assert (cpu.model, cpu.cores, cpu.flags) == ("AMD EPYC 7R32", 2, ("avx2",))
    assert cpu.level == "AVX2" and not cpu.vnni and not cpu.native_bf16 and cpu.bf16_flag is None
    assert cpu.describe() == "AMD EPYC 7R32, 2 cores, AVX2 (onnxruntime 1.32.0, torch 2.15.0)"


def test_a_cascade_lake_xeon_has_vnni_but_no_bf16() -> None:
    cpu = parse(XEON_CASCADE_LAKE, cores=4, **VERSIONS)
    assert cpu.flags == ("avx2", "avx512f", "avx512_vnni")
    assert cpu.level == "AVX-512 VNNI" and cpu.vnni and not cpu.native_bf16


def test_a_sapphire_rapids_xeon_is_amx_with_native_bf16() -> None:
    cpu = parse(XEON_SAPPHIRE_RAPIDS, cores=8, **VERSIONS)
    assert cpu.flags == ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
    assert cpu.level == "AMX" and cpu.vnni and cpu.native_bf16 and cpu.bf16_flag == "AMX_BF16"


def test_avx512_bf16_without_amx_names_both_in_the_level() -> None:
    cpu = parse(cpuinfo("AMD EPYC", f"{AVX2} avx512f avx512_vnni avx512_bf16", processors=1), cores=1, **VERSIONS)
    assert cpu.level == "AVX-512 VNNI + BF16" and cpu.bf16_flag == "AVX512_BF16"
    assert cpu.describe().startswith("AMD EPYC, 1 core, AVX-512 VNNI + BF16 (")


def test_without_proc_cpuinfo_the_processor_name_stands_in_and_nothing_is_claimed() -> None:
    cpu = parse(None, cores=4, onnxruntime="1.32.0", torch="not installed", processor="i386")
    assert (cpu.model, cpu.flags, cpu.level) == ("i386", (), "unknown")
    assert not cpu.vnni and not cpu.native_bf16
    assert cpu.describe() == "i386, 4 cores, unknown (onnxruntime 1.32.0, torch not installed)"
    assert parse("", cores=1, **VERSIONS).model == "unknown CPU"


def test_flags_read_without_any_that_matter_are_below_avx2_not_unknown() -> None:
    assert parse(cpuinfo("Old CPU", BASE), cores=2, **VERSIONS).level == "below AVX2"


def test_the_record_written_into_json_carries_every_field() -> None:
    record = parse(XEON_CASCADE_LAKE, cores=4, **VERSIONS).as_dict()
    assert record["cpu"].startswith("Intel(R) Xeon(R) Platinum 8275CL")
    assert (record["cores"], record["isa"], record["flags"]) == (4, "AVX-512 VNNI", ["avx2", "avx512f", "avx512_vnni"])
    assert (record["onnxruntime"], record["torch"]) == ("1.32.0", "2.15.0")
    assert record["description"] == parse(XEON_CASCADE_LAKE, cores=4, **VERSIONS).describe()


def test_this_cpu_is_read_once_and_counts_the_cores_this_process_may_use() -> None:
    cpu = this_cpu()
    assert isinstance(cpu, CpuInfo) and cpu is this_cpu()
    assert cpu.cores >= 1 and cpu.model
