"""An image that interpolates to nothing is refused as compose refuses it (no image
nor build); one whose tag interpolates to nothing is an image nobody pinned: a stop on
a stateful module (final review, issue 19; compose parity, issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stategate.errors import InputError
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


def _pull_request(tmp_path: Path, image: str) -> Path:
    repo = init_repo(tmp_path / "platform")
    repo.write("compose.yml", COMPOSE.format(image="postgres:15.4@sha256:" + "11" * 32))
    repo.commit("platform")
    repo.git("checkout", "-q", "-b", "pr")
    repo.write("compose.yml", COMPOSE.format(image=image))
    repo.commit("image from the deploy host")
    return repo.path


def test_an_image_set_to_an_unset_variable_is_refused_as_compose_refuses_it(
    tmp_path: Path,
) -> None:
    """Compose: 'service "db" has neither an image nor a build context specified'."""
    path = _pull_request(tmp_path, "${PG_IMAGE}")
    with pytest.raises(InputError, match="neither an image nor a build context") as caught:
        load_pull_request(path, "main", "HEAD")
    assert (caught.value.file, caught.value.line) == ("compose.yml", 2)


def test_a_stateful_image_whose_tag_is_an_unset_variable_stops(tmp_path: Path) -> None:
    pr, _ = load_pull_request(_pull_request(tmp_path, "postgres:${PG_TAG}"), "main", "HEAD")
    (change,) = pr.changes
    assert change.to_image == "postgres:"
    verdict = evaluate_merge(pr)
    assert verdict.verdict.value == "stop"
    assert [s for s in verdict.stops if s.condition.value == "floating-tag"]
