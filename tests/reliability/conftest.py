"""The reliability suite's own guard: no load generator outlives its test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.harness import Traffic


@pytest.fixture(autouse=True)
def load_stops_with_its_test() -> Iterator[None]:
    """A test that fails while its chats are being sent leaves the generator's thread running: its producer would
    go on retrying against stopped brokers through every later test, and its client's calls to `random` make
    Hypothesis fail the property tests that happen to run beside it."""
    yield
    left = Traffic.halt_all()
    if left:
        pytest.fail(f"the load generator of run {', '.join(left)} still runs after this test: later tests may fail")
