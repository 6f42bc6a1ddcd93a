"""Channels (apprise) and a model's external retraining pipeline from the shell (issue 16 points 3, 4)."""

from __future__ import annotations

import pytest

from services.cli.main import main
from services.core.db import make_engine
from services.core.roles import Actor
from services.models import external_pipeline
from services.notify import channels
from tests.services import factories
from tests.services.cli.test_cli import db_url as db_url  # noqa: F401  (the fixture)


def test_an_apprise_channel_is_added_listed_masked_and_removed(db_url, capsys):  # noqa: F811
    url = "slack://T000AAAA/B000BBBB/XXXXXXXXXXXXXXXXXXXXXXXX"
    assert main(["channels", "add", "--url", url, "--event", "alert.opened", "--event", "job.failed"]) == 0
    added = capsys.readouterr().out
    assert added.startswith("Added channel ") and "XXXXXXXXXXXXXXXXXXXXXXXX" not in added
    assert main(["channels", "list"]) == 0
    listed = capsys.readouterr().out
    assert "apprise" in listed and "alert.opened,job.failed" in listed and "XXXXXXXXXXXXXXXXXXXXXXXX" not in listed
    channel_id = int(added.split()[2])
    assert main(["channels", "remove", str(channel_id)]) == 0
    engine = make_engine(db_url)
    assert all(c.paused_reason == "removed" for c in channels.list_channels(engine, Actor.cli()) if c.id == channel_id)


def test_a_bad_channel_url_is_refused_with_a_message(db_url, capsys):  # noqa: F811
    assert main(["channels", "add", "--url", "not a url", "--event", "alert.opened"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_an_external_pipeline_is_set_shown_and_removed(db_url, capsys):  # noqa: F811
    engine = make_engine(db_url)
    factories.model_version(engine, "churn", 1)
    hook = "http://127.0.0.1:9/hooks/retrain"  # no DNS in the test sandbox: a loopback address, allowed
    assert main(["pipeline", "set", "--model", "churn", "--url", hook, "--allow-private"]) == 0
    out = capsys.readouterr().out
    assert f"now call {hook}" in out and "Secret (shown this once): " in out
    assert external_pipeline.get_pipeline(engine, "churn").url == hook
    assert main(["pipeline", "show", "--model", "churn"]) == 0 and hook in capsys.readouterr().out
    assert main(["pipeline", "remove", "--model", "churn"]) == 0
    assert external_pipeline.get_pipeline(engine, "churn") is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "ftp://ci.example.com/hook"])
def test_a_pipeline_url_is_checked_like_a_webhook(db_url, capsys, url):  # noqa: F811
    factories.model_version(make_engine(db_url), "churn", 1)
    assert main(["pipeline", "set", "--model", "churn", "--url", url]) == 2
    assert capsys.readouterr().err.startswith("error: ")
