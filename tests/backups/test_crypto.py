import base64

import pytest

from backups.crypto import (
    AuthenticationError,
    KeyProblem,
    Keys,
    open_secret,
    parse_key,
    seal_secret,
)


def test_a_key_must_be_base64_of_32_bytes():
    with pytest.raises(KeyProblem, match="32 bytes"):
        parse_key(base64.b64encode(b"short").decode())
    with pytest.raises(KeyProblem, match="base64"):
        parse_key("not base64 !!")


def test_sealed_bytes_fail_authentication_when_changed():
    keys = Keys(b"k" * 32)
    sealed = bytearray(keys.seal(b"payload", b"aad"))
    sealed[-1] ^= 1
    with pytest.raises(AuthenticationError):
        keys.open(bytes(sealed), b"aad")


def test_source_secrets_round_trip_without_showing_the_plaintext(settings, backup_key):
    sealed = seal_secret("postgres://u:hunter2@db/app")
    assert b"hunter2" not in sealed
    assert open_secret(sealed) == "postgres://u:hunter2@db/app"
