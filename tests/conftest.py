"""Marks integration and reliability tests, loads their fixtures, and prints the figures measured by the run."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.fixtures"]

FIGURES: list[tuple[str, str]] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runs",
        type=int,
        default=1,
        help="how many times in a row the tests of a change of state (workers joining, leaving; a live model "
        "change) repeat it",
    )
    parser.addoption("--soak-minutes", type=float, default=2, help="the soak's measured minutes, after its warm-up")
    parser.addoption("--soak-warmup", type=float, default=0.5, help="the soak's warm-up minutes, not fitted")
    parser.addoption("--soak-interval", type=float, default=5, help="seconds between the soak's samples")
    parser.addoption("--soak-items", type=int, default=12, help="items of the demo export the soak's CMS holds")
    parser.addoption("--soak-rate", type=float, default=10, help="the soak's chats per second")
    parser.addoption("--soak-out", default=None, help="where the soak writes soak.md and soak.png (default: its tmp)")
    # The learning test's size: CI's one short cycle by default; `make learning-live` runs three full ones.
    parser.addoption("--learning-cycles", type=int, default=1, help="learning cycles, each `helpstream learn`")
    parser.addoption("--learning-usage", type=int, default=550, help="chats agents use between two cycles' starts")
    parser.addoption("--learning-queries", type=int, default=1, help="example queries per saved response")
    parser.addoption("--learning-seed", type=int, default=3, help="the sparse CMS's seed")
    parser.addoption("--learning-steps", type=int, default=25, help="training steps a cycle")
    parser.addoption("--learning-rate", type=float, default=10, help="chats per second, throughout")
    parser.addoption(
        "--learning-rejudge",
        type=int,
        default=0,
        help="runs of `helpstream learn` a cycle may add, as a schedule would, while its candidate is undecided",
    )
    parser.addoption(
        "--export-image",
        action="store_true",
        help="also build the image's export stage (torch from PyPI, several GB) and serve the model it bakes in",
    )


@pytest.fixture(scope="session")
def runs(request: pytest.FixtureRequest) -> int:
    return int(request.config.getoption("--runs"))


@pytest.fixture(scope="session")
def figures() -> list[tuple[str, str]]:
    """Tests append (what, value) pairs: shown in the summary so a run's numbers are read, not guessed."""
    return FIGURES


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cycles = int(config.getoption("--learning-cycles"))
    rejudge = int(config.getoption("--learning-rejudge"))
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "integration" in parts or "security" in parts:
            item.add_marker(pytest.mark.integration)
        if "reliability" in parts:
            item.add_marker(pytest.mark.reliability)
        if (cycles > 1 or rejudge) and parts[-1] == "test_learning.py":
            # Its own timeout is sized for CI's one cycle; the closest marker is the one pytest-timeout reads.
            item.add_marker(pytest.mark.timeout((2400 + 600 * rejudge) * cycles), append=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("figures measured by this run")
        width = max(len(name) for name, _ in FIGURES)
        for name, value in FIGURES:
            terminalreporter.write_line(f"{name:<{width}}  {value}")
