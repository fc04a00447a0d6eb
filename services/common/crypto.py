"""Personal data protection: encryption at rest, sealed contact tokens, fingerprints.

- ``KeyRing``: AES-256-GCM with key ids, so keys can rotate (the first key
  encrypts; every listed key decrypts). Used for personal data at rest.
- ``seal``/``unseal``: the contact token carried in events. It is sealed to
  notify's X25519 public key, so any service can create one but only notify,
  which alone holds the private key, can open it.
- ``KeyRing.fingerprint``: a keyed hash for equality (distinct petitioners,
  duplicate detection) without storing the value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class CryptoError(ValueError):
    """A token could not be opened: wrong key, tampered or malformed."""


def _b64e(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_keys(spec: str) -> list[tuple[str, bytes]]:
    """'id:base64[,id:base64…]' -> [(id, key)]; every key must be 32 bytes."""
    keys = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kid, _, encoded = part.partition(":")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise ValueError(f"key {kid!r} is not base64") from None
        if not kid or len(key) != 32:
            raise ValueError(f"key {kid!r} must be 32 bytes of base64 with an id")
        keys.append((kid, key))
    if not keys:
        raise ValueError("no key configured")
    return keys


def new_key() -> str:
    """A fresh 32-byte key in the form PII_KEYS expects after 'id:'."""
    return base64.b64encode(os.urandom(32)).decode()


class KeyRing:
    def __init__(self, spec: str, fingerprint_key: str | None = None) -> None:
        self._keys = dict(parse_keys(spec))
        self._current = next(iter(self._keys))
        # Fingerprints are stored and compared for years, so their key must not rotate
        # with the encryption keys; it is configured on its own.
        secret = (base64.b64decode(fingerprint_key) if fingerprint_key
                  else self._keys[self._current])
        self._mac_key = hashlib.sha256(b"fingerprint|" + secret).digest()

    def encrypt(self, plaintext: str, context: str = "") -> str:
        """Authenticated encryption; ``context`` binds the value to its place (e.g. a record id)."""
        nonce = os.urandom(12)
        sealed = AESGCM(self._keys[self._current]).encrypt(nonce, plaintext.encode(),
                                                           context.encode())
        return f"v1.{self._current}.{_b64e(nonce + sealed)}"

    def decrypt(self, token: str, context: str = "") -> str:
        try:
            version, kid, body = token.split(".", 2)
            key = self._keys[kid]
            raw = _b64d(body)
            if version != "v1":
                raise ValueError(version)
            return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (ValueError, KeyError, InvalidTag) as exc:
            raise CryptoError("cannot decrypt personal data") from exc

    def encrypt_json(self, value: Any, context: str = "") -> str:
        return self.encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True), context)

    def decrypt_json(self, token: str, context: str = "") -> Any:
        return json.loads(self.decrypt(token, context))

    def fingerprint(self, value: str) -> str:
        """Keyed hash of a normalised value; equal values give equal fingerprints."""
        return hmac.new(self._mac_key, value.encode(), hashlib.sha256).hexdigest()[:32]


# Development key pair for contact tokens. Production sets CONTACT_PUBLIC_KEY on
# every service and CONTACT_PRIVATE_KEYS on notify only.
DEV_CONTACT_PRIVATE = "dev:" + base64.b64encode(
    hashlib.sha256(b"doithoai-dev-contact").digest()).decode()


def public_key_of(private_spec: str) -> str:
    """'id:base64 public key' for the first private key in ``private_spec``."""
    kid, raw = parse_keys(private_spec)[0]
    public = X25519PrivateKey.from_private_bytes(raw).public_key()
    encoded = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{kid}:{base64.b64encode(encoded).decode()}"


DEV_CONTACT_PUBLIC = public_key_of(DEV_CONTACT_PRIVATE)


def _derive(shared: bytes, ephemeral: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral,
                info=b"doithoai contact token").derive(shared)


def seal(public_spec: str, value: dict[str, Any]) -> str:
    """Seal ``value`` (a contact) so that only the holder of the private key can read it."""
    kid, raw = parse_keys(public_spec)[0]
    ephemeral = X25519PrivateKey.generate()
    epub = ephemeral.public_key().public_bytes(serialization.Encoding.Raw,
                                               serialization.PublicFormat.Raw)
    key = _derive(ephemeral.exchange(X25519PublicKey.from_public_bytes(raw)), epub)
    nonce = os.urandom(12)
    body = AESGCM(key).encrypt(nonce, json.dumps(value, ensure_ascii=False).encode(), kid.encode())
    return f"c1.{kid}.{_b64e(epub + nonce + body)}"


def unseal(private_spec: str, token: str) -> dict[str, Any]:
    keys = dict(parse_keys(private_spec))
    try:
        version, kid, body = token.split(".", 2)
        if version != "c1":
            raise ValueError(version)
        raw = _b64d(body)
        private = X25519PrivateKey.from_private_bytes(keys[kid])
        epub, nonce, sealed = raw[:32], raw[32:44], raw[44:]
        key = _derive(private.exchange(X25519PublicKey.from_public_bytes(epub)), epub)
        return json.loads(AESGCM(key).decrypt(nonce, sealed, kid.encode()))
    except (ValueError, KeyError, InvalidTag) as exc:
        raise CryptoError("cannot open contact token") from exc


def mask_email(email: str) -> str:
    """'nguyenvana@gmail.com' -> 'n********a@gmail.com'."""
    local, _, domain = email.partition("@")
    if len(local) <= 2:
        return f"{local[:1]}*@{domain}"
    return f"{local[0]}{'*' * (len(local) - 2)}{local[-1]}@{domain}"
