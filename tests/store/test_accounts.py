"""Contestants, passwords and API keys."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from arena.store import accounts
from arena.store.errors import Conflict, InvalidValue, NotFound
from arena.store.models import ApiKey
from arena.store.types import utcnow


def test_contestant_crud(session: Session) -> None:
    alice = accounts.create_contestant(session, "alice", "alice@example.org")
    admin = accounts.create_contestant(session, "root", is_admin=True)
    session.commit()
    assert accounts.get_contestant(session, alice.id).email == "alice@example.org"
    assert accounts.contestant_by_name(session, "root") is admin and admin.is_admin
    assert accounts.contestant_by_name(session, "nobody") is None
    assert [c.name for c in accounts.list_contestants(session)] == ["alice", "root"]
    with pytest.raises(NotFound) as caught:
        accounts.get_contestant(session, 999)
    assert caught.value.code == "NOT_FOUND"


def test_name_taken_is_a_domain_error_and_the_session_survives(session: Session) -> None:
    accounts.create_contestant(session, "alice")
    with pytest.raises(Conflict) as caught:
        accounts.create_contestant(session, "alice")
    assert caught.value.code == "CONTESTANT_NAME_TAKEN"
    accounts.create_contestant(session, "bob")  # the savepoint rolled back only the failed insert
    session.commit()
    assert [c.name for c in accounts.list_contestants(session)] == ["alice", "bob"]


@pytest.mark.parametrize("name", ["", "a:b", "a/b", "-x", "x" * 32, "ünï", "a b"])
def test_invalid_names(session: Session, name: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        accounts.create_contestant(session, name)
    assert caught.value.code == "INVALID_NAME"


def test_api_key_is_hashed_at_rest_and_authenticates(session: Session) -> None:
    alice = accounts.create_contestant(session, "alice")
    record, key = accounts.create_api_key(session, alice, "laptop")
    session.commit()
    scheme, prefix, secret = key.split("_", 2)
    assert scheme == "arena" and prefix == record.prefix and len(secret) >= 40
    # Neither the key nor its secret part is anywhere in the table.
    dump = " ".join(str(v) for row in session.execute(text("SELECT * FROM api_keys")) for v in row)
    assert secret not in dump and key not in dump
    assert record.hash == accounts.hash_key(key) and record.hash != secret
    found = accounts.authenticate(session, key)
    assert found is not None and found.contestant is alice and found.last_used_at is not None


def test_api_key_rejections(session: Session) -> None:
    alice = accounts.create_contestant(session, "alice")
    record, key = accounts.create_api_key(session, alice)
    session.commit()
    wrong_secret = key[:-1] + ("A" if key[-1] != "A" else "B")
    for bad in [wrong_secret, "arena_ffffffffffff_" + key.split("_", 2)[2], "nonsense", "", "bearer_x_y", key + "x"]:
        assert accounts.authenticate(session, bad) is None, bad
    accounts.revoke_api_key(session, alice, record.id)
    session.commit()
    assert accounts.authenticate(session, key) is None


def test_last_used_is_written_at_most_once_a_minute(session: Session) -> None:
    alice = accounts.create_contestant(session, "alice")
    record, key = accounts.create_api_key(session, alice)
    now = utcnow()
    accounts.authenticate(session, key, now)
    accounts.authenticate(session, key, now + timedelta(seconds=30))
    assert record.last_used_at == now
    accounts.authenticate(session, key, now + timedelta(minutes=2))
    assert record.last_used_at == now + timedelta(minutes=2)


def test_keys_are_scoped_to_their_owner(session: Session) -> None:
    alice = accounts.create_contestant(session, "alice")
    bob = accounts.create_contestant(session, "bob")
    a_key, _ = accounts.create_api_key(session, alice)
    accounts.create_api_key(session, bob)
    assert [k.id for k in accounts.api_keys_of(session, alice)] == [a_key.id]
    with pytest.raises(NotFound):
        accounts.revoke_api_key(session, bob, a_key.id)
    first = accounts.revoke_api_key(session, alice, a_key.id).revoked_at
    assert accounts.revoke_api_key(session, alice, a_key.id).revoked_at == first
    session.commit()
    assert session.scalar(select(ApiKey.revoked_at).where(ApiKey.id == a_key.id)) == first


def test_passwords(session: Session) -> None:
    admin = accounts.create_contestant(session, "root", is_admin=True)
    assert not accounts.check_password(admin, "anything")
    accounts.set_password(admin, "correct horse")
    session.commit()
    assert admin.password_hash and "correct horse" not in admin.password_hash
    assert accounts.check_password(admin, "correct horse")
    assert not accounts.check_password(admin, "correct horsE")
    with pytest.raises(InvalidValue):
        accounts.set_password(admin, "short")
