"""An image that interpolates to nothing (a variable the repo leaves unset, now an empty
string as in compose) is an image nobody pinned: a stop on a stateful module, never "no
image" (final review, issue 19)."""

from __future__ import annotations

from pathlib import Path

from stategate.policy.gate import evaluate_merge
from stategate.pullrequest import load_pull_request
from tests.gitrepo import init_repo

COMPOSE = """\
services:
  db:
    image: {image}
    volumes: [pgdata:/var/lib/postgresql/data]
volumes: {{pgdata: {{}}}}
"""


def test_a_stateful_image_set_to_an_unset_variable_stops(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "platform")
    repo.write("compose.yml", COMPOSE.format(image="postgres:15.4@sha256:" + "11" * 32))
    repo.commit("platform")
    repo.git("checkout", "-q", "-b", "pr")
    repo.write("compose.yml", COMPOSE.format(image="${PG_IMAGE}"))
    repo.commit("image from the deploy host")
    pr, _ = load_pull_request(repo.path, "main", "HEAD")
    (change,) = pr.changes
    assert change.to_image == ""
    verdict = evaluate_merge(pr)
    assert verdict.verdict.value == "stop"
    (floating,) = [s for s in verdict.stops if s.condition.value == "floating-tag"]
    assert "(empty: a variable the repo does not set)" in floating.message
