"""The Renovate fragment's pure core: names, patterns, gating, groups, labels."""

from __future__ import annotations

import re

from stategate.commands.renovate import compose_projects
from stategate.platform import load_platform
from stategate.policy.default import default_policy
from stategate.report.renovate import (
    file_name_match,
    file_pattern,
    image_rules,
    package_names,
    renovate_config,
)
from tests.conftest import EXAMPLE, Tree


def test_package_names_cover_renovates_spellings() -> None:
    assert "postgres" in package_names("postgres:16.4@sha256:" + "a" * 64)
    assert "docker.io/library/postgres" in package_names("docker.io/library/postgres:18")
    assert "postgres" in package_names("docker.io/library/postgres:18")
    assert package_names("ghcr.io/example/notes:1.2") == ("ghcr.io/example/notes",)
    assert package_names("localhost:5000/app") == ("localhost:5000/app",)  # port, not a tag


def test_file_pattern_is_anchored_and_escaped() -> None:
    pattern = file_pattern("compose/pg (main)+[x].yml")
    assert pattern.startswith("/^") and pattern.endswith("$/")
    body = re.compile(pattern[1:-1])
    assert body.match("compose/pg (main)+[x].yml")
    assert not body.match("compose/pg (main)+[x]Xyml")
    assert not body.match("other/compose/pg (main)+[x].yml")


def test_file_name_match_is_plain_unless_a_glob_would_misread_it() -> None:
    assert file_name_match("compose/postgres.yml") == "compose/postgres.yml"
    assert file_name_match("compose/[db].yml") == file_pattern("compose/[db].yml")
    assert file_name_match("!compose.yml").startswith("/^")
    # minimatch reads a leading "#" as a comment that matches nothing: the rule holding a
    # stateful image would then apply to no file
    assert file_name_match("#postgres.yml") == file_pattern("#postgres.yml")
    assert file_name_match("compose/my db.yml") == file_pattern("compose/my db.yml")
    assert file_name_match("compose/.hidden/db.yml") == "compose/.hidden/db.yml"


def test_rules_on_the_example() -> None:
    platform = load_platform(EXAMPLE)
    projects = {
        "platform": sorted(p.relative_to(EXAMPLE).as_posix() for p in EXAMPLE.glob("compose/*.yml"))
    }
    rules = {r.written: r for r in image_rules(platform.inventory, platform.policy, projects)}
    assert rules["postgres"].gated and "merge/auto" not in rules["postgres"].labels
    assert rules["minio/mc"].group == rules["minio/minio"].group == "stategate platform/minio"
    assert rules["postgres"].group is None
    assert not rules["gotenberg/gotenberg"].gated
    assert rules["gotenberg/gotenberg"].labels == ("merge/auto",)
    # app and worker run one image: one rule, the batch's labels
    assert [m.id for m in rules["ghcr.io/example/notes"].modules] == [
        "platform/app",
        "platform/worker",
    ]
    config = renovate_config(platform.inventory, platform.policy, projects)
    assert config["pinDigests"] is True
    assert config["packageRules"][0]["dependencyDashboardApproval"] is True  # the catch-all
    assert renovate_config(platform.inventory, platform.policy, projects) == config


def test_a_stateless_platform_is_not_held(tree: Tree) -> None:
    repo = tree({"compose/web.yml": "services:\n  web:\n    image: nginxdemos/hello:0.4\n"})
    platform = load_platform(repo)
    assert compose_projects(platform) == {"compose": ["compose/web.yml"]}
    [rule] = image_rules(platform.inventory, default_policy(), compose_projects(platform))
    assert not rule.gated and rule.group is None
    assert rule.files == ("compose/web.yml",)


def test_a_service_with_build_is_left_to_renovate(tree: Tree) -> None:
    repo = tree({"compose/app.yml": "services:\n  app:\n    build: .\n    image: example/app:1\n"})
    platform = load_platform(repo)
    assert image_rules(platform.inventory, default_policy(), compose_projects(platform)) == []


def test_a_credential_in_an_image_never_reaches_the_output(tree: Tree) -> None:
    from click.testing import CliRunner

    from stategate.commands.renovate import command

    secret = "s3cr3t-T0ken-4f9a1c77"
    repo = tree(
        {
            "compose/.env": f"REGISTRY_TOKEN={secret}\n",
            "compose/app.yml": "services:\n  app:\n"
            "    image: registry.example.com/${REGISTRY_TOKEN}/app:1\n",
        }
    )
    for fmt in ("json", "text"):
        result = CliRunner().invoke(command, ["--repo", str(repo), "--format", fmt])
        assert result.exit_code == 0, result.output
        assert "registry.example.com/***/app" in result.output  # interpolated, then masked
        assert secret not in result.output


def test_a_repo_without_compose_files_is_a_one_line_error(tree: Tree) -> None:
    import subprocess

    from tests.conftest import installed_cli

    repo = tree({"README.md": "nothing here\n"})
    proc = subprocess.run(
        [installed_cli(), "renovate", "--repo", str(repo)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == f"stategate: error: {repo}: no compose files found: nothing for Renovate to watch"
    )
    assert proc.stdout == ""
