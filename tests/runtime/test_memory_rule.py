"""The bots' memory is a ruleset field (memory_mib: 256 MiB by default, 64 to 1024), validated with the rest of
the rules, and what every plane's sandbox limits say (tests/runtime/test_ml_bot.py runs it in real cgroups)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from pydantic import ValidationError

from arena.engine.rules import RulesetError, resolve_ruleset
from arena.runtime.bus import Bus
from arena.runtime.protocol import hello_message
from arena.runtime.spec import LimitsSpec, TournamentSpec
from arena.runtime.tournament import Tournament
from sandbox.limits import MiB
from tests.runtime.test_tournament import spec


def test_memory_mib_defaults_to_256_and_takes_64_to_1024():
    assert resolve_ruleset({}).memory_mib == 256
    assert resolve_ruleset({"memory_mib": 64}).memory_mib == 64
    assert resolve_ruleset({"memory_mib": 1024}).memory_mib == 1024


@pytest.mark.parametrize("bad", [63, 1025, 0, -256, "lots", 256.5, None])
def test_memory_mib_out_of_bounds_is_refused_naming_the_field(bad):
    with pytest.raises(RulesetError) as refused:
        resolve_ruleset({"memory_mib": bad})
    assert [path for path, _ in refused.value.errors] == ["memory_mib"]
    assert refused.value.code == "INVALID_RULESET"


def test_the_spec_gives_every_plane_the_rulesets_memory():
    spec = TournamentSpec(id="t", rules={"memory_mib": 512})
    assert spec.limits.memory == "512M"
    # What the engine builds, and what the supervisors and bot hosts receive (limits as a mapping), agree.
    assert spec.limits.build().memory_bytes == 512 * MiB
    assert LimitsSpec(**spec.limits.model_dump()).build().memory_bytes == 512 * MiB
    again = TournamentSpec.model_validate(spec.model_dump(mode="json"))  # as queued and taken over
    assert again.limits.memory == "512M"
    assert TournamentSpec(id="t").limits.build().memory_bytes == 256 * MiB


def test_limits_naming_a_memory_override_the_rules_within_the_same_bound():
    assert TournamentSpec(id="t", rules={"memory_mib": 512}, limits={"memory": "128M"}).limits.memory == "128M"
    with pytest.raises(ValidationError, match="at most 1024 MiB"):
        TournamentSpec(id="t", limits={"memory": "2G"})
    with pytest.raises(ValidationError, match="memory"):
        LimitsSpec(memory="lots")


def test_invalid_rules_still_fail_at_build_with_their_own_errors(catalog):
    spec = TournamentSpec(id="t", rules={"memory_mib": 4096})
    with pytest.raises(RulesetError, match="memory_mib"):
        spec.build(catalog)


def test_the_hello_tells_the_bot_its_memory_limit(catalog):
    instruments = [catalog["AAPL"]]
    ruleset = resolve_ruleset({"memory_mib": 512})
    assert hello_message("b", "t", ruleset, instruments)["rules"]["memory_mib"] == 512  # a backtest: the rule
    # In a tournament the sandbox's limit is told, which an operator's limits may set below the rule.
    assert hello_message("b", "t", ruleset, instruments, memory_mib=128)["rules"]["memory_mib"] == 128
    assert hello_message("b", "t", resolve_ruleset({}), instruments)["rules"]["memory_mib"] == 256


def test_a_tournament_tells_its_bots_the_sandbox_limit(redis_url, catalog):
    client = redis.Redis.from_url(redis_url)
    bots = {"a": Path(__file__).resolve().parents[2] / "examples" / "bots" / "buy_and_hold.py"}
    config, entries = spec("memory-told", bots, rules={"memory_mib": 512}, limits={"memory": "128M"}).build(catalog)
    Tournament(client, config, entries, catalog)  # publishes the config its bots' supervisors read
    told = Bus(client, "memory-told").config()
    client.close()
    assert told is not None and told["hello"]["rules"]["memory_mib"] == 128
