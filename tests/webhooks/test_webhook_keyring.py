"""Webhook secrets at rest: sealed under the operator's keys, rotated, and a key file made safely when none is set."""

from __future__ import annotations

import multiprocessing
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from arena.webhooks.keyring import KEY_FILE, KeyringError, SecretKeyring


def test_a_sealed_secret_opens_only_with_its_key() -> None:
    keyring = SecretKeyring.generate()
    sealed = [keyring.seal("whsec_abc"), keyring.seal("whsec_abc")]
    assert sealed[0] != sealed[1] and all("whsec_abc" not in s for s in sealed)  # a fresh IV each time
    assert {keyring.open(s) for s in sealed} == {"whsec_abc"}
    for bad in (sealed[0][:-4] + "AAAA", "whsec_abc", "", "not base64 at all", "ü"):
        with pytest.raises(KeyringError):
            keyring.open(bad)
    with pytest.raises(KeyringError):
        SecretKeyring.generate().open(sealed[0])


def test_rotation_newest_key_first() -> None:
    old_key, new_key = Fernet.generate_key(), Fernet.generate_key()
    under_old = SecretKeyring([old_key]).seal("whsec_1")
    both = SecretKeyring([new_key, old_key])
    assert both.open(under_old) == "whsec_1"  # old secrets still open during the rotation
    resealed = both.reseal(under_old)
    assert resealed is not None and SecretKeyring([new_key]).open(resealed) == "whsec_1"
    assert both.reseal(resealed) is None  # already under the newest key
    assert SecretKeyring([new_key]).open(both.seal("whsec_2")) == "whsec_2"  # the first key seals
    legacy = both.reseal("whsec_plain")  # stored in plain text before 0004
    assert legacy is not None and SecretKeyring([new_key]).open(legacy) == "whsec_plain"
    with pytest.raises(KeyringError):
        SecretKeyring([new_key]).reseal(under_old)  # the old key was dropped too early


@pytest.mark.parametrize("keys", [[], ["short"], ["x" * 44], [b"\xff" * 44]])
def test_a_bad_key_is_refused(keys: list) -> None:
    with pytest.raises(KeyringError):
        SecretKeyring(keys)


def test_configured_keys_win_and_no_key_file_is_made(tmp_path: Path) -> None:
    new_key, old_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keyring = SecretKeyring.from_settings(f" {new_key} , {old_key} ", tmp_path)
    assert keyring.open(SecretKeyring([old_key]).seal("s")) == "s"  # both keys open
    assert SecretKeyring([new_key]).open(keyring.seal("s")) == "s"  # the first seals
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(KeyringError):
        SecretKeyring.from_settings("not-a-key", tmp_path)


def test_without_keys_one_is_generated_once_into_a_0600_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = SecretKeyring.from_settings("", data_dir)
    path = data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in data_dir.iterdir()) == [KEY_FILE]  # no draft left behind
    sealed = first.seal("whsec_x")
    assert SecretKeyring.from_settings("", data_dir).open(sealed) == "whsec_x"  # the next start reads the same key
    path.chmod(0o644)
    with pytest.raises(KeyringError, match="chmod 600"):
        SecretKeyring.from_settings("", data_dir)


def _seal_with_the_file(data_dir: str) -> str:
    return SecretKeyring.from_settings("", Path(data_dir)).seal("whsec_race")


def test_processes_and_threads_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as threads:
        sealed = list(threads.map(_seal_with_the_file, [str(tmp_path / "t")] * 16))
    with multiprocessing.get_context("spawn").Pool(4) as processes:
        sealed_p = processes.map(_seal_with_the_file, [str(tmp_path / "p")] * 8, chunksize=1)
    for folder, tokens in (("t", sealed), ("p", sealed_p)):
        keyring = SecretKeyring.from_settings("", tmp_path / folder)
        assert {keyring.open(t) for t in tokens} == {"whsec_race"}, folder
        assert [p.name for p in (tmp_path / folder).iterdir()] == [KEY_FILE]
