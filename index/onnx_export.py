"""Exports a sentence-transformers model directory to ONNX (fp32) and quantizes it to int8, offline, into a cache dir.

Runs as `python -m index.onnx_export OUT_DIR SOURCE` in a child process, so a worker on an ONNX backend never loads
torch. SOURCE is a model directory, or an ONNX file a rung ships (minilm-l3), which is only quantized. Uses the
libraries' own tools: `torch.onnx.export` and `onnxruntime.quantization.quantize_dynamic` (optimum's exporter
pins transformers < 5, which sentence-transformers 6 cannot use).
"""

from __future__ import annotations

import fcntl
import inspect
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

OPSET = 17


def cpu_has_vnni() -> bool:
    """VNNI (AVX512-VNNI or AVX-VNNI) runs int8 dot products without the u8 x s8 saturation of plain AVX2."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "avx512vnni"))


def int8_variant() -> str:
    return "int8-vnni" if cpu_has_vnni() else "int8-reduced-range"


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


def quantize_int8(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel weights keep cosine to fp32 at ~0.99 (per-tensor: ~0.97); without VNNI the weights must
    # use a reduced range to avoid overflow in the u8 x s8 AVX2 kernels.
    quantize_dynamic(
        str(fp32), str(out), per_channel=True, reduce_range=not cpu_has_vnni(), weight_type=QuantType.QInt8
    )


def main(out_dir: Path, source: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    # Workers that start together (same data dir) export once: the others wait here, then find the files.
    with (out_dir / ".export.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fp32 = source
        if source.is_dir():
            fp32 = out_dir / "model-fp32.onnx"
            if not fp32.exists():
                logger.info("exporting %s to %s", source, fp32)
                export_fp32(source, fp32.with_suffix(".tmp"))
                fp32.with_suffix(".tmp").rename(fp32)
        int8 = out_dir / f"model-{int8_variant()}.onnx"
        if not int8.exists():
            logger.info("quantizing %s to %s", fp32, int8)
            quantize_int8(fp32, int8.with_suffix(".tmp"))
            int8.with_suffix(".tmp").rename(int8)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main(Path(sys.argv[1]), Path(sys.argv[2]))
