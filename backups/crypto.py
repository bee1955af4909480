"""Keys and sealing for the backup repository and for source secrets.

The master key comes from the environment (``UPKEEP_BACKUP_KEY``: base64 of 32 bytes) and never
lives in the repository. Three sub-keys are derived from it with HKDF so that one key never serves
two purposes: ``data`` seals objects (ChaCha20-Poly1305), ``id`` names objects (HMAC-SHA256, so an
object id reveals nothing about the plaintext's plain hash), ``secret`` seals source secrets
(DSNs) in the console's database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ENV_KEY = "UPKEEP_BACKUP_KEY"
NONCE_BYTES = 12


class KeyProblem(ValueError):
    """The key is missing, malformed or does not open this repository."""


class AuthenticationError(ValueError):
    """Sealed bytes failed authentication: tampered, truncated or the wrong key."""


def parse_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyProblem(f"{ENV_KEY} is not valid base64") from None
    if len(raw) != 32:
        raise KeyProblem(f"{ENV_KEY} must decode to 32 bytes, not {len(raw)}")
    return raw


def key_from_env() -> bytes | None:
    """The master key, or None when the environment holds none (repositories are then plain)."""
    text = os.environ.get(ENV_KEY, "")
    return parse_key(text) if text else None


def new_key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"upkeep-backups-v1", info=purpose
    ).derive(master)


class Keys:
    """The derived keys for one master key."""

    def __init__(self, master: bytes):
        self.data = _derive(master, b"data")
        self.id = _derive(master, b"id")
        self.secret = _derive(master, b"secret")
        self._aead = ChaCha20Poly1305(self.data)

    def check_value(self) -> str:
        """Stored in the repository config so a wrong key is refused before anything is read."""
        return hmac.new(self.id, b"upkeep key check", hashlib.sha256).hexdigest()

    def object_id(self, plaintext: bytes) -> str:
        return hmac.digest(self.id, plaintext, "sha256").hex()

    def seal(self, data: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, data, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < NONCE_BYTES + 16:
            raise AuthenticationError("sealed object is too short")
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
        except InvalidTag:
            raise AuthenticationError("authentication failed") from None


def secret_keys() -> Keys:
    """Keys for sealing source secrets: the env key, or one derived from SECRET_KEY without it.

    SECRET_KEY also comes from the environment (or var/secret_key); the fallback keeps a laptop
    install working, and a deployment sets UPKEEP_BACKUP_KEY.
    """
    master = key_from_env()
    if master is None:
        from django.conf import settings

        master = hashlib.sha256(b"upkeep-secret:" + settings.SECRET_KEY.encode()).digest()
    return Keys(master)


def seal_secret(text: str) -> bytes:
    return secret_keys().seal(text.encode(), b"source-secret")


def open_secret(sealed: bytes) -> str:
    return secret_keys().open(bytes(sealed), b"source-secret").decode()
