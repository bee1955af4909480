"""The update answer carries ``flags``: real HTTP through the test client against the real
update endpoint, the cache and the generation."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from flags import ramp
from releases import bucketing
from tests.flags.conftest import make_flag


def ask(client, channel, install_id="dev-1", current="1.1.0"):
    params = {"key": channel.client_key, "current": current, "runtime": "2.0.0"}
    if install_id is not None:
        params["install_id"] = install_id
    response = client.get("/api/v1/update", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_channel_without_flags_answers_an_empty_object(client, channel):
    assert ask(client, channel)["flags"] == {}


def test_a_dark_flag_is_on_for_its_testers_only(client, channel):
    make_flag(channel, testers={"tester-1": "on"})
    assert ask(client, channel, "tester-1")["flags"] == {"new-checkout": "on"}
    assert ask(client, channel, "someone")["flags"] == {}
    assert ask(client, channel, None)["flags"] == {}


def test_clients_older_than_the_release_that_ships_it_never_get_it(client, channel, bob):
    flag = make_flag(channel, testers={"tester-1": "on"})
    ramp.start(flag, user=bob)
    assert ask(client, channel, "tester-1", current="1.0.0")["flags"] == {}


def test_the_ramp_percentage_decides_who_gets_it(client, channel, bob):
    flag = make_flag(channel)
    ramp.start(flag, user=bob)  # phase 0: 10 %
    ids = [f"dev-{n}" for n in range(60)]
    got = {i for i in ids if ask(client, channel, i)["flags"].get("new-checkout") == "on"}
    expected = {i for i in ids if bucketing.in_cohort(flag.salt, i, 10.0)}
    assert got == expected and 0 < len(got) < len(ids)


def test_variants_are_answered_by_name(client, channel, bob):
    flag = make_flag(
        channel, key="layout", variants=[{"name": "A", "weight": 50}, {"name": "B", "weight": 50}]
    )
    ramp.start(flag, user=bob)
    ramp.advance(ramp.fresh(flag), now=flag.phase_started_at, reason="test")  # 100 %
    seen = {ask(client, channel, f"dev-{n}")["flags"]["layout"] for n in range(40)}
    assert seen == {"A", "B"}


def test_the_kill_switch_turns_it_off_for_everyone_on_the_next_answer(client, channel, bob):
    flag = make_flag(channel, testers={"tester-1": "on"})
    ramp.start(flag, user=bob)
    ramp.advance(ramp.fresh(flag), now=flag.phase_started_at, reason="test")  # 100 %
    assert ask(client, channel, "tester-1")["flags"] == {"new-checkout": "on"}
    assert ask(client, channel, "dev-9")["flags"] == {"new-checkout": "on"}
    ramp.kill(ramp.fresh(flag), reason="checkout errors")
    # The answers above were cached; the kill bumped the generation: off at once.
    assert ask(client, channel, "tester-1")["flags"] == {}
    assert ask(client, channel, "dev-9")["flags"] == {}
    ramp.unkill(ramp.fresh(flag), reason="fixed server side")
    assert ask(client, channel, "dev-9")["flags"] == {"new-checkout": "on"}


def test_an_edit_is_visible_on_the_next_answer(client, channel):
    flag = make_flag(channel)
    assert ask(client, channel, "tester-2")["flags"] == {}
    ramp.edit(flag, row_version=flag.row_version, testers={"tester-2": "on"})
    assert ask(client, channel, "tester-2")["flags"] == {"new-checkout": "on"}


def test_flags_of_another_channel_do_not_leak(client, app, channel):
    from releases import publishing

    beta = publishing.create_channel(app, name="beta", release_gate="immediate")
    make_flag(beta, testers={"tester-1": "on"})
    assert ask(client, channel, "tester-1")["flags"] == {}
    assert ask(client, beta, "tester-1")["flags"] == {"new-checkout": "on"}


def test_a_warm_update_check_with_flags_makes_no_database_query(client, channel, bob):
    flag = make_flag(channel, testers={"tester-1": "on"})
    ramp.start(flag, user=bob)
    ask(client, channel, "warm-up")
    with CaptureQueriesContext(connection) as queries:
        for n in range(5):
            ask(client, channel, f"dev-{n}")
        assert ask(client, channel, "tester-1")["flags"] == {"new-checkout": "on"}
    assert len(queries) == 0


@pytest.mark.parametrize("current", ["1.1.0", "1.2.0-beta.1"])
def test_the_flag_states_are_cached_once_per_channel_not_per_install(client, channel, current):
    from django.core.cache import cache

    make_flag(channel)
    ask(client, channel, "a", current=current)
    ask(client, channel, "b", current=current)
    assert len([k for k in cache._cache if ":flags:states:" in k]) == 1


def test_the_answer_has_exactly_the_fields_the_openapi_document_lists(client, channel, bob):
    from releases.openapi import DOCUMENT

    make_flag(channel, user=bob, testers={"dev-1": "on"})
    answer = ask(client, channel)
    schema = DOCUMENT["components"]["schemas"]["UpdateAnswer"]
    assert set(answer) == set(schema["properties"])
    assert answer["flags"] == {"new-checkout": "on"}
