"""The pure parts of a redis restore's set-up: ACL rule lines compared however a server
prints them, the sandbox's ACL file and configuration lines, the stored state part."""

from __future__ import annotations

import pytest

from stategate.errors import ExternalError
from stategate.providers.redis_state import ServerState, canonical_rule
from stategate.sandbox.redis_conf import SANDBOX_REDIS_USER, acl_file, redis_config_lines

SEVEN_A = "user app on #ab ~app:* resetchannels -@all +@read -keys -sort +fcall +function|load"
SEVEN_B = "user app on #ab ~app:* resetchannels -@all +@read +function|load -sort +fcall -keys"


def test_single_command_rules_in_another_order_are_the_same_user() -> None:
    assert canonical_rule(SEVEN_A) == canonical_rule(SEVEN_B)


@pytest.mark.parametrize(
    "other",
    [
        SEVEN_A.replace("#ab", "#ac"),  # another password
        SEVEN_A.replace("~app:*", "~*"),  # more keys
        SEVEN_A.replace("-keys", "+keys"),  # a command allowed
        SEVEN_A.replace("-@all +@read", "+@read -@all"),  # categories keep their order
        SEVEN_A.replace(" on ", " off "),
        SEVEN_A + " skip-sanitize-payload",
    ],
)
def test_a_real_difference_stays_a_difference(other: str) -> None:
    assert canonical_rule(other) != canonical_rule(SEVEN_A)


def test_redis_62_sanitize_payload_flag_is_the_default() -> None:
    plain = "user default on #ab ~* &* +@all"
    loaded = "user default on sanitize-payload #ab ~* &* +@all"
    assert canonical_rule(plain) == canonical_rule(loaded)


def test_selectors_are_kept_whole() -> None:
    line = "user s on #ab ~a* +get (~b* +set -del) (~c* +get)"
    assert canonical_rule(line).endswith("(~b* +set -del) (~c* +get)")


def test_the_sandbox_acl_file_replaces_a_user_of_its_own_name() -> None:
    text = acl_file(["user default on #ab ~* +@all", f"user {SANDBOX_REDIS_USER} on nopass"], "pw")
    lines = text.splitlines()
    assert lines[0] == "user default on #ab ~* +@all"
    assert len(lines) == 2 and lines[1].startswith(f"user {SANDBOX_REDIS_USER} on #")
    assert "pw" not in lines[1] and "nopass" not in text


def test_a_line_that_is_not_a_rule_is_refused() -> None:
    with pytest.raises(ExternalError):
        acl_file(["requirepass secret"], "pw")
    # a tampered state part cannot smuggle a second line (another user, a directive)
    with pytest.raises(ExternalError, match="line break"):
        acl_file(["user app on nopass ~* +@all\nuser root on nopass ~* +@all"], "pw")


def test_settings_become_config_lines_save_one_pair_per_line() -> None:
    lines = redis_config_lines(
        {"save": "3600 1 300 100", "appendfsync": "always", "appendonly": "yes"}
    )
    assert lines == ["appendfsync always", "save 3600 1", "save 300 100"]
    assert redis_config_lines({"save": ""}) == ['save ""']
    with pytest.raises(ExternalError):
        redis_config_lines({"save": "3600"})
    with pytest.raises(ExternalError):
        redis_config_lines({"appendfsync": 'always"\ninclude /etc/passwd'})


def test_the_state_part_round_trips_and_refuses_what_is_not_one() -> None:
    state = ServerState(("user default on nopass ~* +@all",), {"appendonly": "yes"})
    assert ServerState.from_json(state.to_json(), "p") == state
    assert ServerState.from_json(ServerState(None, {}).to_json(), "p").acl is None
    for bad in (b"[]", b"{}", b'{"schema": "stategate.redis-server/v1", "acl": [1]}', b"\xff"):
        with pytest.raises(ExternalError):
            ServerState.from_json(bad, "p")


def test_items_leave_out_the_sandbox_user_and_never_hold_a_rule() -> None:
    state = ServerState(
        ("user app on #ab ~* +@all", f"user {SANDBOX_REDIS_USER} on #cd ~* +@all"),
        {"appendonly": "yes"},
    )
    items = {(i.group, i.name): i.digest for i in state.items()}
    assert set(items) == {("acl", "app"), ("config", "appendonly")}
    assert "#ab" not in items[("acl", "app")]
    shaped = state.shaped_like(ServerState(None, {}))
    assert shaped.items() == []
