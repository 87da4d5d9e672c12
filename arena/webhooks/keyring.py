"""Webhook signing secrets at rest: sealed with Fernet (AES-128-CBC with HMAC-SHA256) under operator keys.

HMAC signing needs each secret itself, so the database keeps it sealed, not hashed. A copy of the
database or of a backup without the key reveals no secret.

Keys come from ``ARENA_WEBHOOKS_SECRET_KEYS`` (Fernet keys, comma-separated, newest first): the first
seals, any of them opens (``MultiFernet``). To rotate, put a new key first and restart the API: at start
every stored secret not sealed with the first key is sealed again with it (:meth:`SecretKeyring.reseal`),
after which the old key can be dropped. With no key configured, one is generated once into
``<data_dir>/webhook-secrets.key``, created 0600; every API process must then share that data dir (a
cluster of API hosts sets the setting instead). A key file readable by others is refused.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_FILE = "webhook-secrets.key"
LEGACY_PREFIX = "whsec_"  # a secret stored in plain text before secrets were sealed


class KeyringError(ValueError):
    """A key that cannot be used, or a stored secret that no configured key opens."""


class SecretKeyring:
    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise KeyringError("at least one webhook secret key is needed")
        try:
            self._keys = [Fernet(key) for key in keys]
        except (ValueError, TypeError):
            raise KeyringError("a webhook secret key must be a Fernet key (32 url-safe base64-encoded bytes)") from None
        self._all = MultiFernet(self._keys)

    @classmethod
    def generate(cls) -> SecretKeyring:
        """A keyring of one fresh key (tests, and the first start without a configured key)."""
        return cls([Fernet.generate_key()])

    @classmethod
    def from_settings(cls, keys: str, data_dir: Path) -> SecretKeyring:
        """The configured keys (comma-separated, newest first), else the data dir's key file (made if absent)."""
        configured = [k.strip() for k in keys.split(",") if k.strip()]
        return cls(configured) if configured else cls([_key_file(Path(data_dir) / KEY_FILE)])

    def seal(self, secret: str) -> str:
        return self._all.encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """The secret; KeyringError if no configured key opens it (or it was never sealed)."""
        try:
            return self._all.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise KeyringError("no configured webhook secret key opens this secret") from None

    def reseal(self, stored: str) -> str | None:
        """``stored`` sealed with the newest key if it is in plain text or under an older key; None if current.

        KeyringError when no configured key opens it (changes nothing: the caller keeps the row as it is)."""
        if stored.startswith(LEGACY_PREFIX):
            return self.seal(stored)
        token = stored.encode("ascii")
        try:
            self._keys[0].decrypt(token)
            return None
        except InvalidToken:
            pass
        try:
            return self._all.rotate(token).decode("ascii")
        except InvalidToken:
            raise KeyringError("no configured webhook secret key opens this secret") from None


def _key_file(path: Path) -> bytes:
    """The key in ``path``, generated first if there is none. Created 0600 by an atomic link, so two processes
    starting together agree on one key; refused if others may read it."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600, a name of its own
        draft = Path(name)
        try:
            os.write(fd, Fernet.generate_key() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
                os.link(draft, path)
        finally:
            draft.unlink()
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyringError(f"{path} is readable by others (mode {stat.filemode(mode)}); chmod 600 it")
    return path.read_bytes().strip()
