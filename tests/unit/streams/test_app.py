"""`create_app` builds a whole worker from settings, with no import-time state and without loading the model."""

from __future__ import annotations

import importlib
import sys

from streams.app import create_app
from streams.settings import Settings, isolated


def settings(run: str) -> Settings:
    return isolated(Settings(broker="kafka://127.0.0.1:9092"), run)  # type: ignore[call-arg]


def test_importing_the_app_module_builds_nothing() -> None:
    module = importlib.reload(sys.modules["streams.app"])
    assert not [name for name, value in vars(module).items() if type(value).__name__ in ("App", "Metrics")]


def test_two_apps_live_in_one_process_each_with_its_own_topics_agents_and_engine() -> None:
    one, two = create_app(settings("one")), create_app(settings("two"))

    assert one.app is not two.app and one.engine is not two.engine and one.metrics is not two.metrics
    for built, run in ((one, "one"), (two, "two")):
        agents = {agent.name.rsplit(".", 1)[-1]: agent for agent in built.app.agents.values()}
        assert sorted(agents) == ["chat_started", "content_updated", "recommendation_feedback"]
        assert agents["chat_started"].channel.get_topic_name() == f"{run}.chat.started"
        assert agents["content_updated"].channel.get_topic_name() == f"{run}.content.updated"
        assert built.app.conf.broker[0].host == "127.0.0.1"
        assert built.app.conf.broker[0].port == 9092
        assert agents["recommendation_feedback"].channel.get_topic_name() == f"{run}.recommendation.feedback"
        children = built.app._children
        # Started with the app, before its consumer: the registry is read before the models load.
        assert children.index(built.channel) < children.index(built.engine)
        assert built.channel.registry.active is None and not built.engine.ready


def test_metrics_are_declared_with_help_and_faust_reports_into_the_same_registry() -> None:
    built = create_app(settings("metrics"))
    text = built.metrics.render().decode()
    for name in ("helpstream_events_handled", "helpstream_index_items", "helpstream_encoder_calls"):
        assert f"# HELP {name}" in text
    assert "# HELP faust_messages_received_per_topic" in text
    assert "helpstream_encoder_calls_total 0.0" in text
    # A worker not started has no consumer, and reading its metrics makes none (nor its thread's event loop).
    assert "helpstream_partitions_read_again_total 0.0" in text and built.app.consumer_if_made() is None


def test_a_worker_whose_model_is_not_loaded_yet_reports_that_it_is_starting() -> None:
    built = create_app(settings("starting"))
    assert built.channel._figures is not None
    report = built.channel._figures()  # what it publishes every few seconds once the control topics are read
    assert report is not None and report.worker == built.channel.worker_id
    assert report.active_ref is None and not any(f.loaded for f in report.models.values())
    built.engine._stopped.set()  # stopping: its models closed, the report made while they answered must stand
    assert built.channel._figures() is None
