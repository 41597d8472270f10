"""The int8 variant follows the instruction set, and its name keeps variants apart in ids and cached files."""

from __future__ import annotations

from index.cpu import parse
from index.onnx_export import INT8_CONFIGS, graph_file, int8_config
from tests.unit.index.test_cpu import EPYC_ZEN2, VERSIONS, XEON_CASCADE_LAKE, XEON_SAPPHIRE_RAPIDS


def test_vnni_cpus_get_full_range_weights_and_avx2_cpus_the_reduced_range() -> None:
    for text in (XEON_CASCADE_LAKE, XEON_SAPPHIRE_RAPIDS):
        config = int8_config(parse(text, cores=2, **VERSIONS))
        assert (config.name, config.reduce_range, config.weight_type) == ("int8-vnni", False, "QInt8")
    config = int8_config(parse(EPYC_ZEN2, cores=2, **VERSIONS))
    assert (config.name, config.reduce_range, config.weight_type) == ("int8-reduced-range", True, "QInt8")


def test_a_cache_directory_shared_by_both_kinds_of_cpu_holds_two_distinct_graphs() -> None:
    names = {graph_file(int8_config(parse(text, cores=2, **VERSIONS)).name) for text in (EPYC_ZEN2, XEON_CASCADE_LAKE)}
    assert names == {"model-int8-vnni.onnx", "model-int8-reduced-range.onnx"}
    assert graph_file("fp32") not in names
    assert set(INT8_CONFIGS) == {"int8-vnni", "int8-reduced-range"}  # the export child looks its variant up here
