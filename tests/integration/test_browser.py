"""The agent console and the help screen in a real browser (Debian's Chromium through Playwright), against a
worker on Apache Kafka: live recommendations, a click that publishes contract-valid feedback, a response found by
search when none fits (a miss), search as you type, errors shown. Each test saves a screenshot in its own output
directory."""

from __future__ import annotations

import importlib.resources
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from streams.local.worker import WorkerProcess
from streams.settings import Settings, child_env
from tests.fixtures import Workers
from tests.integration.clients import chat, consume_keys, produce_json
from tests.services import chromium

PHONE = {"width": 375, "height": 800}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def stack(make_settings: Callable[..., Settings], workers: Workers) -> tuple[Settings, WorkerProcess]:
    settings = make_settings()
    return settings, workers.start_with_demo_content(settings, "browser")


@pytest.fixture
def page(browser: Any, stack: tuple[Settings, WorkerProcess], tmp_path: Path) -> Iterator[Any]:
    """A phone-width page that records every request it makes, and leaves a screenshot behind."""
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.requests = []
    page.on("request", lambda request: page.requests.append(request.url))
    yield page
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    context.close()


def assert_local_and_fits_a_phone(page: Any, base: str) -> None:
    assert page.requests and all(url.startswith(base) for url in page.requests), page.requests
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def start_chat_in_open_console(page: Any, stack: tuple[Settings, WorkerProcess], text: str) -> tuple[str, float]:
    """Open the console, wait until it is live, then start a chat as the chat platform would: (its id, when)."""
    settings, worker = stack
    page.goto(f"{worker.url}/console")
    page.wait_for_selector("#status.live", timeout=10_000)
    chat_id = f"c-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    produce_json(settings.broker, settings.topic_chat, [chat(chat_id, text)])
    return chat_id, started


def test_a_new_chat_shows_in_the_console_with_three_saved_responses_within_two_seconds(
    page: Any, stack: tuple[Settings, WorkerProcess], tmp_path: Path, figures: list[tuple[str, str]]
) -> None:
    settings, worker = stack
    chat_id, started = start_chat_in_open_console(page, stack, "I ordered a card a week ago and it's not here")
    card = page.locator(f'article[data-chat-id="{chat_id}"]')
    card.locator("button.response").nth(2).wait_for(timeout=2_000)
    shown_s = time.monotonic() - started

    assert card.locator(".message").inner_text() == "I ordered a card a week ago and it's not here"
    assert card.locator("button.response").count() == settings.top_k
    assert card.locator("button.response").first.get_attribute("data-content-id") == "card_arrival"
    assert card.locator(".preview").first.inner_text()  # a preview of the body, from the content table
    assert_local_and_fits_a_phone(page, worker.url)
    page.screenshot(path=str(tmp_path / "console.png"), full_page=True)
    figures.append(("console: chat produced → shown with its 3 saved responses", f"{shown_s * 1000:.0f} ms"))


def test_a_click_on_a_saved_response_publishes_contract_valid_feedback(
    page: Any, stack: tuple[Settings, WorkerProcess], tmp_path: Path
) -> None:
    settings, worker = stack
    chat_id, _ = start_chat_in_open_console(page, stack, "how do I change my PIN")
    second = page.locator(f'article[data-chat-id="{chat_id}"] button.response').nth(1)
    second.wait_for(timeout=5_000)
    before = worker.metric("helpstream_feedback_total", action="used", rank="2")
    second.click()
    page.wait_for_selector(f'article[data-chat-id="{chat_id}"] button.response.used', timeout=5_000)

    (message,) = consume_keys(settings.broker, settings.topic_feedback, [chat_id.encode()], 30).values()
    schema_file = importlib.resources.files("schemas") / "json" / "recommendation.feedback.schema.json"
    body = orjson.loads(message.value)
    jsonschema.validate(body, json.loads(schema_file.read_text()))
    assert (body["chat_id"], body["content_id"], body["rank"], body["action"]) == (
        chat_id, second.get_attribute("data-content-id"), 2, "used"
    )  # fmt: skip
    assert worker.metric("helpstream_feedback_total", action="used", rank="2") == before + 1
    page.screenshot(path=str(tmp_path / "console-used.png"), full_page=True)


def test_a_response_found_by_search_when_none_fits_publishes_a_miss_and_a_masked_usage_example(
    page: Any, stack: tuple[Settings, WorkerProcess], tmp_path: Path
) -> None:
    settings, worker = stack
    text = "I ordered a card a week ago and it's not here, mail me at ann.lee@example.com"
    chat_id, _ = start_chat_in_open_console(page, stack, text)
    card = page.locator(f'article[data-chat-id="{chat_id}"]')
    card.locator("button.response").nth(2).wait_for(timeout=5_000)
    shown = [b.get_attribute("data-content-id") for b in card.locator("ol.responses button").all()]
    recommended = set(shown)
    before = worker.metric("helpstream_feedback_total", action="used", rank="search")
    card.locator("form.find input").fill("how do I exchange currency abroad")
    card.locator("form.find button").click()
    card.locator("ol.found button").first.wait_for(timeout=5_000)
    found = next(
        b for b in card.locator("ol.found button").all() if b.get_attribute("data-content-id") not in recommended
    )
    content_id = found.get_attribute("data-content-id")
    found.click()
    page.wait_for_selector(f'article[data-chat-id="{chat_id}"] .found-used:not([hidden])', timeout=5_000)

    (message,) = consume_keys(settings.broker, settings.topic_feedback, [chat_id.encode()], 30).values()
    schema_file = importlib.resources.files("schemas") / "json" / "recommendation.feedback.schema.json"
    body = orjson.loads(message.value)
    jsonschema.validate(body, json.loads(schema_file.read_text()))
    assert (body["content_id"], body["source"], body.get("rank"), body["action"]) == (
        content_id,
        "search",
        None,
        "used",
    )
    assert worker.metric("helpstream_feedback_total", action="used", rank="search") == before + 1
    assert "found by search" in card.locator(".found-used").inner_text()
    assert_local_and_fits_a_phone(page, worker.url)
    page.screenshot(path=str(tmp_path / "console-found.png"), full_page=True)

    # The worker joined it with the chat's text, masked, and the list shown: a training example.
    (usage,) = consume_keys(settings.broker, settings.topic_usage, [chat_id.encode()], 30).values()
    example = orjson.loads(usage.value)
    jsonschema.validate(
        example, json.loads((importlib.resources.files("schemas") / "json" / "usage.schema.json").read_text())
    )
    assert (example["content_id"], example["source"], example["rank"], example["shown"]) == (
        content_id, "search", None, shown
    )  # fmt: skip
    assert "ann.lee@example.com" not in example["text"] and "a week ago" in example["text"]
    out = tmp_path / "usage.jsonl"
    exported = subprocess.run(
        [sys.executable, "-m", "streams.cli", "usage", "--out", str(out)],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert "found by search" in exported.stdout
    assert chat_id in {orjson.loads(line)["chat_id"] for line in out.read_bytes().splitlines()}


def test_typing_in_the_help_screen_shows_help_articles_with_scores_and_server_time(
    page: Any, stack: tuple[Settings, WorkerProcess], tmp_path: Path
) -> None:
    _, worker = stack
    page.goto(f"{worker.public_url}/help")
    page.locator("#q").press_sequentially("my card has not arrived", delay=30)
    page.locator("li.result").first.wait_for(timeout=5_000)

    assert page.locator("li.result").count() == 5
    assert page.locator("li.result .response-title").first.inner_text() == "Card delivery and tracking"
    assert float(page.locator("li.result .score").first.inner_text()) > 0
    assert "ms" in page.locator("#notice").inner_text()
    searches = [url for url in page.requests if "/search?" in url]
    assert len(searches) < len("my card has not arrived")  # debounced, not one request per key
    assert_local_and_fits_a_phone(page, worker.public_url)
    page.screenshot(path=str(tmp_path / "help.png"), full_page=True)


def test_a_search_error_is_shown_to_the_customer_not_swallowed(
    page: Any, stack: tuple[Settings, WorkerProcess], tmp_path: Path
) -> None:
    _, worker = stack
    page.goto(f"{worker.public_url}/help")
    page.locator("#q").fill("x" * 257)  # the public listener refuses queries over 256 characters
    page.wait_for_selector("#notice.error", timeout=5_000)
    assert "Search failed: q is longer than 256 characters" in page.locator("#notice").inner_text()
    assert page.locator("li.result").count() == 0
    page.screenshot(path=str(tmp_path / "help-error.png"), full_page=True)


def test_the_models_page_shows_the_active_model_and_a_candidate_side_by_side_with_its_gates(
    page: Any, stack: tuple[Settings, WorkerProcess], tmp_path: Path, figures: list[tuple[str, str]]
) -> None:
    settings, worker = stack
    added = subprocess.run(
        [sys.executable, "-m", "streams.cli", "model", "add", "minilm-l3", "--wait", "180"],
        env=child_env(settings),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    try:
        produce_json(
            settings.broker,
            settings.topic_chat,
            [chat(f"m-{i}", f"my card has not arrived yet {i}") for i in range(80)],
        )
        page.goto(f"{worker.url}/console/models")
        page.wait_for_selector("#status.live", timeout=10_000)
        candidate = page.locator("article.model.candidate")
        candidate.wait_for(timeout=10_000)
        page.wait_for_function(
            "() => /scored\\s*[1-9]/.test(document.querySelector('article.model.candidate').innerText)",
            timeout=60_000,
        )
        active = page.locator("article.model.active")
        assert "all-MiniLM-L6-v2" in active.locator(".model-id").inner_text()
        assert "paraphrase-MiniLM-L3-v2" in candidate.locator(".model-id").inner_text()
        assert "100% (83 of 83 items, 1 of 1 workers)" in candidate.inner_text()
        assert "budget 1000 ms" in candidate.inner_text()
        gates = [item.inner_text() for item in candidate.locator("ul.gates li").all()]
        assert [g.split(":")[0][2:] for g in gates] == ["coverage", "latency", "quality"]
        assert gates[0].startswith("✓") and gates[2].startswith("✗")  # covered; no agent feedback yet
        assert "add paraphrase-MiniLM-L3-v2" in page.locator("#history").inner_text()
        assert_local_and_fits_a_phone(page, worker.url)
        page.screenshot(path=str(tmp_path / "models.png"), full_page=True)
        figures.append(("models page: screenshot", str(tmp_path / "models.png")))
    finally:
        subprocess.run(
            [sys.executable, "-m", "streams.cli", "model", "retire", "paraphrase-MiniLM-L3-v2/onnx-fp32"],
            env=child_env(settings),
            capture_output=True,
            timeout=120,
            check=False,
        )
