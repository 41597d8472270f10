"""The manifest of an exported model directory (`helpstream model export`): what it holds, checked before use.

The directory is self-contained: ONNX graphs, the tokenizer, the pooling and length settings, each file's
SHA-256 and the model id, so an install without torch serves the same vectors under the same id.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

MANIFEST = "helpstream-model.json"
FORMAT: Literal[1] = 1


class Manifest(BaseModel):
    """`graphs` maps a variant (`fp32`, or an int8 config's name) to its file; `files` maps every file to its
    SHA-256."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal[1] = FORMAT
    id: str
    source: str
    dimension: int
    pooling: Literal["mean", "cls", "pooled"]
    max_tokens: int
    tokenizer: str
    graphs: dict[str, str]
    files: dict[str, str]
    exported_with: dict[str, str]

    @model_validator(mode="after")
    def _inside_the_directory(self) -> Manifest:
        """Every file it names is a plain name inside the model's directory: a manifest must not point a worker
        at `../x` or `/etc/x`."""
        for name in [self.tokenizer, *self.graphs.values(), *self.files]:
            path = PurePosixPath(name)
            if not name or "\\" in name or path.is_absolute() or ".." in path.parts or name != str(path):
                raise ValueError(f"file name {name!r} is not inside the model directory")
        return self


class BadExport(ValueError):
    """An exported directory whose manifest is unreadable or whose files do not match it."""


def read_manifest(directory: Path) -> Manifest:
    try:
        return Manifest.model_validate_json((directory / MANIFEST).read_bytes())
    except (OSError, ValidationError) as exc:
        raise BadExport(f"{directory / MANIFEST} is not a helpstream model manifest: {exc}") from None


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    path = directory / MANIFEST
    path.write_text(manifest.model_dump_json(indent=2) + "\n")
    return path


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verified(directory: Path, manifest: Manifest, name: str) -> Path:
    """`directory / name`, once its SHA-256 matches the manifest's: a truncated copy or an edited graph would
    otherwise serve other vectors under the model's id."""
    expected = manifest.files.get(name)
    path = directory / name
    if expected is None:
        raise BadExport(f"{directory}: {name} is not listed in {MANIFEST}")
    if not path.is_file():
        raise BadExport(f"{directory}: {name} is missing")
    actual = sha256(path)
    if actual != expected:
        raise BadExport(f"{path} has SHA-256 {actual[:16]}…, the manifest says {expected[:16]}…: copy the export again")
    return path
