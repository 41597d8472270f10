"""Exports a sentence-transformers model directory to ONNX (fp32) and quantizes it to int8, offline, into a cache dir.

Runs as `python -m index.onnx_export OUT_DIR SOURCE INT8_VARIANT` in a child process, so a worker on an ONNX backend
never loads torch. SOURCE is a model directory, or an ONNX file (a rung ships one, or an exported directory holds
one), which is only quantized, its constant subgraphs computed first.
Uses the libraries' own tools: `torch.onnx.export` and `onnxruntime.quantization.quantize_dynamic` (optimum's
exporter pins transformers < 5, which sentence-transformers 6 cannot use).
"""

from __future__ import annotations

import fcntl
import inspect
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from index.cpu import CpuInfo, this_cpu

logger = logging.getLogger(__name__)

OPSET = 17


@dataclass(frozen=True)
class Int8Config:
    """How the int8 graph is quantized. Its name is part of the model id and of the cached file's name, so a cache
    directory or a Redis shared by machines of different instruction sets never hands one the other's graph or
    vectors."""

    name: str
    reduce_range: bool
    weight_type: Literal["QInt8", "QUInt8"]
    summary: str


# Activations are u8 in every variant (dynamic quantization); weights per channel, which keeps cosine to fp32
# higher than per-tensor weights do.
VNNI = Int8Config(
    "int8-vnni",
    reduce_range=False,
    weight_type="QInt8",
    summary="U8S8, full-range per-channel weights (VNNI multiplies u8 x s8 without saturating)",
)
# Without VNNI, onnxruntime runs U8S8 with VPMADDUBSW, whose 16-bit pair sums can saturate; its documentation
# advises 7-bit weights (reduce_range) for that, or U8U8. Kernels are chosen by cpuid at run time, so this one
# could not be measured on a VNNI machine.
NO_VNNI = Int8Config(
    "int8-reduced-range",
    reduce_range=True,
    weight_type="QInt8",
    summary="U8S8, 7-bit per-channel weights (no VNNI: AVX2/AVX-512 VPMADDUBSW saturates full-range weights)",
)
INT8_CONFIGS = {config.name: config for config in (VNNI, NO_VNNI)}


def int8_config(cpu: CpuInfo | None = None) -> Int8Config:
    """The int8 variant for `cpu` (default: this process's)."""
    return VNNI if (cpu or this_cpu()).vnni else NO_VNNI


def int8_variant() -> str:
    return int8_config().name


def graph_file(variant: str) -> str:
    """The cached graph's file name: `fp32` or an int8 config's name."""
    return f"model-{variant}.onnx"


def export_fp32(model_dir: Path, out: Path) -> None:
    """The transformer's last hidden state as an ONNX graph; pooling and normalisation run in numpy."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    # BERT takes token type ids, MPNet does not: export exactly the inputs this model's forward() has.
    names = ["input_ids", "attention_mask", "token_type_ids"]
    names = [name for name in names if name in inspect.signature(model.forward).parameters]

    class KeywordModel(torch.nn.Module):
        # transformers 5 changed forward()'s positional order: pass everything by keyword.
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            hidden: torch.Tensor = self.inner(**dict(zip(names, tensors, strict=True))).last_hidden_state
            return hidden

    example = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        KeywordModel(),
        tuple(example if name != "token_type_ids" else torch.zeros_like(example) for name in names),
        str(out),
        input_names=names,
        output_names=["last_hidden_state"],
        dynamic_axes={**dict.fromkeys(names, axes), "last_hidden_state": axes},
        opset_version=OPSET,
        dynamo=False,
    )


def folded(graph: Path, out: Path) -> Path:
    """`graph` with its constant subgraphs computed (onnxruntime's basic optimizations, portable across CPUs): a
    graph that stores int8 weights and multiplies them by a scale at run time has float weights to quantize."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    return out


def quantize_int8(fp32: Path, out: Path, config: Int8Config) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32),
        str(out),
        per_channel=True,
        reduce_range=config.reduce_range,
        weight_type=QuantType[config.weight_type],
    )


def main(out_dir: Path, source: Path, config: Int8Config) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    # Workers that start together (same data dir) export once: the others wait here, then find the files.
    with (out_dir / ".export.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fp32 = source
        if source.is_dir():
            fp32 = out_dir / graph_file("fp32")
            if not fp32.exists():
                logger.info("exporting %s to %s", source, fp32)
                export_fp32(source, fp32.with_suffix(".tmp"))
                fp32.with_suffix(".tmp").rename(fp32)
        int8 = out_dir / graph_file(config.name)
        if not int8.exists():
            logger.info("quantizing %s to %s: %s", fp32, int8, config.summary)
            # A graph from elsewhere may compute its weights (int8 times a scale): folded, they can be quantized.
            flat = folded(fp32, out_dir / "folded.tmp") if source.is_file() else fp32
            quantize_int8(flat, int8.with_suffix(".tmp"), config)
            int8.with_suffix(".tmp").rename(int8)
            if flat != fp32:
                flat.unlink()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main(Path(sys.argv[1]), Path(sys.argv[2]), INT8_CONFIGS[sys.argv[3]])
