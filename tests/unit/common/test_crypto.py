"""Personal data protection: the key ring, contact tokens, fingerprints, masking."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from services.common.config import Settings
from services.common.crypto import (
    DEV_CONTACT_PRIVATE,
    DEV_CONTACT_PUBLIC,
    CryptoError,
    KeyRing,
    mask_email,
    new_key,
    parse_keys,
    public_key_of,
    seal,
    unseal,
)

NAME = "Nguyễn Thị Hồng Nhung, thôn Đông Hải, xã Gia Viễn"


def spec(kid: str, raw: bytes | None = None) -> str:
    return f"{kid}:{base64.b64encode(raw or os.urandom(32)).decode()}"


def x25519_private() -> bytes:
    return X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())


def flip(token: str, at: int = -5) -> str:
    """The token with one base64 character of its body changed."""
    ch = token[at]
    return token[:at] + ("A" if ch != "A" else "B") + token[at + 1:]


def test_round_trip_vietnamese():
    ring = KeyRing(spec("k1"))
    token = ring.encrypt(NAME)
    assert NAME not in token
    assert token.startswith("v1.k1.")
    assert ring.decrypt(token) == NAME
    assert ring.encrypt(NAME) != token  # a fresh nonce every time


def test_json_round_trip():
    ring = KeyRing(spec("k1"))
    value = {"full_name": "Trần Văn Đức", "phone": "+84912345678", "tags": [1, 2]}
    token = ring.encrypt_json(value, context="petition/p-1")
    assert "Đức" not in token and "0912" not in token
    assert ring.decrypt_json(token, context="petition/p-1") == value


def test_context_binds_the_value_to_its_place():
    ring = KeyRing(spec("k1"))
    token = ring.encrypt(NAME, context="petition/p-1")
    assert ring.decrypt(token, context="petition/p-1") == NAME
    with pytest.raises(CryptoError):
        ring.decrypt(token, context="petition/p-2")
    with pytest.raises(CryptoError):
        ring.decrypt(token)


def test_tampering_fails():
    ring = KeyRing(spec("k1"))
    token = ring.encrypt(NAME)
    with pytest.raises(CryptoError):
        ring.decrypt(flip(token))
    with pytest.raises(CryptoError):
        ring.decrypt(token.replace("v1.", "v2.", 1))
    with pytest.raises(CryptoError):
        ring.decrypt(token[:-10])
    for garbage in ("", "v1", "v1.k1", "v1.k1.", "v1.k1.AAAA", "v1.nokey.AAAA", "plain text"):
        with pytest.raises(CryptoError):
            ring.decrypt(garbage)


def test_another_key_with_the_same_id_fails():
    token = KeyRing(spec("k1")).encrypt(NAME)
    with pytest.raises(CryptoError):
        KeyRing(spec("k1")).decrypt(token)


def test_key_rotation():
    old = spec("2026")
    new = spec("2027")
    before = KeyRing(old).encrypt(NAME, context="c")
    rotated = KeyRing(f"{new},{old}")
    assert rotated.decrypt(before, context="c") == NAME  # old tokens still open
    after = rotated.encrypt(NAME, context="c")
    assert after.startswith("v1.2027.")  # the first key encrypts
    assert rotated.decrypt(after, context="c") == NAME
    with pytest.raises(CryptoError):
        KeyRing(old).decrypt(after, context="c")
    with pytest.raises(CryptoError):  # once the old key is dropped, its tokens are gone
        KeyRing(new).decrypt(before, context="c")


@pytest.mark.parametrize("bad", [
    "", " , ", "nokey", "k1:", "k1:not base64!!",
    spec("k1", os.urandom(16)),  # too short
    spec("k1", os.urandom(33)),
    ":" + base64.b64encode(os.urandom(32)).decode(),  # no id
    f"{spec('k1')},k2:zzz",
])
def test_bad_key_specs_rejected(bad):
    with pytest.raises(ValueError):
        parse_keys(bad)
    with pytest.raises(ValueError):
        KeyRing(bad)


def test_parse_keys_and_new_key():
    key = new_key()
    assert len(base64.b64decode(key)) == 32
    assert new_key() != key
    parsed = parse_keys(f" a:{key} , b:{new_key()} ")
    assert [kid for kid, _ in parsed] == ["a", "b"]
    assert parsed[0][1] == base64.b64decode(key)


def test_fingerprint_stable_and_key_dependent():
    key = spec("k1")
    one, same = KeyRing(key), KeyRing(key)
    assert one.fingerprint("+84912345678") == same.fingerprint("+84912345678")
    assert len(one.fingerprint("+84912345678")) == 32
    assert one.fingerprint("+84912345678") != one.fingerprint("+84912345679")
    assert one.fingerprint("+84912345678") != KeyRing(spec("k1")).fingerprint("+84912345678")
    assert "912345678" not in one.fingerprint("+84912345678")


def test_seal_unseal_with_a_generated_pair():
    private = spec("n1", x25519_private())
    public = public_key_of(private)
    assert public.startswith("n1:")
    contact = {"full_name": "Lê Thị Thu Hà", "phone": "+84912345678", "email": "ha@example.vn"}
    token = seal(public, contact)
    assert token.startswith("c1.n1.")
    assert "Hà" not in token and "912345678" not in token
    assert unseal(private, token) == contact
    assert seal(public, contact) != token  # a fresh ephemeral key every time


def test_unseal_with_the_wrong_private_key_fails():
    private = spec("n1", x25519_private())
    token = seal(public_key_of(private), {"phone": "+84912345678"})
    with pytest.raises(CryptoError):
        unseal(spec("n1", x25519_private()), token)  # same id, another key
    with pytest.raises(CryptoError):
        unseal(spec("n2", x25519_private()), token)  # unknown id
    with pytest.raises(CryptoError):
        unseal(private, flip(token))
    with pytest.raises(CryptoError):
        unseal(private, token.replace("c1.", "v1.", 1))
    with pytest.raises(CryptoError):
        unseal(private, "c1.n1.AAAA")


def test_unseal_with_rotated_private_keys():
    old = spec("2026", x25519_private())
    new = spec("2027", x25519_private())
    token = seal(public_key_of(old), {"phone": "+84912345678"})
    assert unseal(f"{new},{old}", token) == {"phone": "+84912345678"}
    assert public_key_of(f"{new},{old}") == public_key_of(new)


def test_public_key_of_matches_cryptography():
    raw = x25519_private()
    expected = X25519PrivateKey.from_private_bytes(raw).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    kid, public = parse_keys(public_key_of(spec("n1", raw)))[0]
    assert kid == "n1" and public == expected


def test_dev_contact_keys_match_the_default_setting():
    assert public_key_of(DEV_CONTACT_PRIVATE) == DEV_CONTACT_PUBLIC
    assert Settings().contact_public_key == DEV_CONTACT_PUBLIC
    token = seal(Settings().contact_public_key, {"phone": "+84912345678"})
    assert unseal(DEV_CONTACT_PRIVATE, token) == {"phone": "+84912345678"}


def test_mask_email():
    assert mask_email("nguyenvana@gmail.com") == "n********a@gmail.com"
    assert mask_email("ab@x.vn") == "a*@x.vn"
    assert mask_email("a@x.vn") == "a*@x.vn"
    assert mask_email("hoa.nguyen@ninhbinh.gov.vn").endswith("@ninhbinh.gov.vn")
    assert "nguyen" not in mask_email("hoa.nguyen@ninhbinh.gov.vn")
