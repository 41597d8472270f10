"""Which models a worker may load, whoever names them (its own `HELPSTREAM_MODEL` or the registry): the ladder's
rungs, directories under the allowed roots whose weights are safetensors or ONNX (never pickle, which runs code
when loaded), and hub ids only where downloads are enabled. The default rung's files are checked against hashes
recorded here when it loads (`shipped_onnx`). A refused model raises `ModelRefused`, saying why."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from index.models import HUB_ID, LADDER, Model, ModelUnavailable, resolve

# Files in which PyTorch, pickle or joblib store objects: loading one can run arbitrary code.
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib"})


class ModelRefused(ModelUnavailable):
    """The model is not one this deployment allows."""


@dataclass(frozen=True)
class ModelPolicy:
    roots: tuple[Path, ...]
    hub: bool = False

    @classmethod
    def of(cls, roots: Sequence[Path], *, hub: bool) -> ModelPolicy:
        return cls(tuple(root.expanduser().resolve() for root in roots), hub)

    def allowed(self, setting: str) -> Model:
        """`resolve(setting)`, once this deployment allows it; raises `ModelRefused` with the reason."""
        if setting in LADDER:
            return resolve(setting)
        path = Path(setting).expanduser()
        if path.exists():
            self._check_directory(path.resolve())
            return resolve(setting)
        if HUB_ID.match(setting) and not self.hub:
            raise ModelRefused(f"{setting}: downloads from a model hub are off (HELPSTREAM_MODEL_HUB)")
        return resolve(setting)

    def _check_directory(self, real: Path) -> None:
        if not any(real.is_relative_to(root) for root in self.roots):
            roots = ", ".join(str(root) for root in self.roots)
            raise ModelRefused(f"{real} is outside the allowed model roots ({roots}): see HELPSTREAM_MODEL_ROOTS")
        if not real.is_dir():
            raise ModelRefused(f"{real} is not a model directory")
        pickles = []
        for folder, _, names in os.walk(real, followlinks=True):  # a linked folder is read like any other
            for name in names:
                path = Path(folder, name)
                if not any(path.resolve().is_relative_to(root) for root in self.roots):
                    raise ModelRefused(f"{path} links outside the allowed model roots: see HELPSTREAM_MODEL_ROOTS")
                if path.suffix.lower() in PICKLE_SUFFIXES:
                    pickles.append(str(path.relative_to(real)))
        if pickles:
            pickles.sort()
            raise ModelRefused(
                f"{real} holds pickle files ({', '.join(pickles[:3])}), which run code when loaded: "
                "only safetensors and ONNX weights are loaded"
            )
