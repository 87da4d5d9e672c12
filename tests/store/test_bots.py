"""Bots and versions: owner scoping, version numbering, smoke-test verdicts."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy.orm import Session

from arena.store import accounts, bots
from arena.store.errors import Conflict, IllegalTransition, InvalidValue, NotFound
from arena.store.models import Bot, BotVersion, VersionStatus

SHA = hashlib.sha256(b"print('hi')").hexdigest()


def _version(session: Session, bot: Bot, sha: str = SHA) -> BotVersion:
    return bots.add_version(session, bot, sha256=sha, size_bytes=11, file_count=1, storage_path=f"blobs/{sha}")


def test_bot_names_are_unique_per_owner(session: Session) -> None:
    alice = accounts.create_contestant(session, "alice")
    bob = accounts.create_contestant(session, "bob")
    mine = bots.create_bot(session, alice, "momentum")
    with pytest.raises(Conflict) as caught:
        bots.create_bot(session, alice, "momentum")
    assert caught.value.code == "BOT_NAME_TAKEN"
    theirs = bots.create_bot(session, bob, "momentum")  # another owner may use the name
    session.commit()
    assert mine.id != theirs.id
    assert bots.bot_by_name(session, alice, "momentum") is mine


def test_owner_scoping(session: Session) -> None:
    alice = accounts.create_contestant(session, "alice")
    bob = accounts.create_contestant(session, "bob")
    a1 = bots.create_bot(session, alice, "a1")
    a2 = bots.create_bot(session, alice, "a2")
    b1 = bots.create_bot(session, bob, "b1")
    version = _version(session, b1)
    session.commit()
    assert [b.name for b in bots.bots_of(session, alice)] == ["a1", "a2"]
    assert [b.name for b in bots.bots_of(session, bob)] == ["b1"]
    assert bots.get_bot(session, a1.id, alice) is a1
    assert bots.get_bot(session, a2.id) is a2  # no owner: admin view
    with pytest.raises(NotFound):
        bots.get_bot(session, b1.id, alice)
    with pytest.raises(NotFound):
        bots.get_version(session, version.id, alice)
    assert bots.get_version(session, version.id, bob) is version


def test_versions_number_up_and_keep_their_content_address(session: Session) -> None:
    alice = accounts.create_contestant(session, "alice")
    bot = bots.create_bot(session, alice, "momentum")
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(3)]
    made = [_version(session, bot, sha) for sha in shas]
    session.commit()
    assert [v.version for v in made] == [1, 2, 3]
    assert [v.sha256 for v in bots.versions_of(session, bot)] == shas
    assert all(v.status is VersionStatus.PENDING for v in made)
    assert bots.version_by_hash(session, bot, shas[1]) is made[1]
    assert bots.latest_ready_version(session, bot) is None
    with pytest.raises(InvalidValue):
        _version(session, bot, "not-a-hash")


def test_smoke_verdicts(session: Session) -> None:
    alice = accounts.create_contestant(session, "alice")
    bot = bots.create_bot(session, alice, "momentum")
    ok, bad = _version(session, bot), _version(session, bot)
    bots.set_version_verdict(session, ok, VersionStatus.READY, "hello answered")
    bots.set_version_verdict(session, bad, "failed", "x" * 100_000, end_classification="timeout")
    session.commit()
    assert ok.status is VersionStatus.READY and ok.checked_at is not None
    assert bad.status is VersionStatus.FAILED and bad.end_classification == "timeout"
    assert bad.smoke_log.startswith("x" * 1000) and bad.smoke_log.endswith("[line cut]")  # one line: cut
    assert bots.latest_ready_version(session, bot) is ok
    for version, to in [(ok, VersionStatus.FAILED), (bad, VersionStatus.READY), (_version(session, bot), "pending")]:
        with pytest.raises(IllegalTransition) as caught:
            bots.set_version_verdict(session, version, to)
        assert caught.value.code == "ILLEGAL_VERSION_TRANSITION"


@pytest.mark.parametrize("line", ["bad line from the bot: not JSON", "é" * 900])
def test_a_smoke_log_is_kept_within_1000_lines_and_64_kib_with_a_truncated_mark(session: Session, line: str) -> None:
    """Issue 12, finding 7: one log entry per bad line the bot writes made ~100 MB per upload possible (and the
    cap was in characters: 64 Ki of "é" is 128 KiB). The first lines and the last (the verdict) are kept."""
    version = _version(session, bots.create_bot(session, accounts.create_contestant(session, "alice"), "junk"))
    log = "\n".join([*(f"{i}: {line}" for i in range(20_000)), "sandbox: exited (the verdict)"])
    bots.set_version_verdict(session, version, "failed", log)
    session.commit()
    session.expire_all()
    kept = bots.get_version(session, version.id).smoke_log
    lines = kept.split("\n")
    assert len(lines) <= 1000 and len(kept.encode()) <= 64 * 1024
    assert lines[0] == f"0: {line}" and lines[-1] == "sandbox: exited (the verdict)"
    marks = [n for n, text in enumerate(lines) if text.startswith("[log truncated: ")]
    assert len(marks) == 1 and 0 < marks[0] < len(lines) - 1


def test_deleting_a_contestant_cascades_to_bots(session: Session) -> None:
    alice = accounts.create_contestant(session, "alice")
    _version(session, bots.create_bot(session, alice, "momentum"))
    session.commit()
    session.delete(alice)
    session.commit()
    assert session.query(Bot).count() == 0
    assert session.query(BotVersion).count() == 0
