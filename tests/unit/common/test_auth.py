"""Officer tokens: HS256 locally, RS256 against a JWKS; scope by locality."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from services.common.auth import AuthError, Forbidden, Principal, Verifier, issue_token
from services.common.clock import utcnow
from services.common.config import Settings

SETTINGS = Settings(jwt_secret="unit-test-secret-that-is-long-enough-1234")


def claims(**extra) -> dict:
    now = utcnow()
    return {"sub": "u-1", "roles": ["secretariat"], "iat": now,
            "exp": now + timedelta(minutes=5), "aud": SETTINGS.jwt_audience,
            "iss": SETTINGS.jwt_issuer, **extra}


def hs256(payload: dict, secret: str = SETTINGS.jwt_secret) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def test_round_trip():
    token = issue_token(SETTINGS, "can-bo-7", ["secretariat", "host"], agency_id="so-tnmt-37",
                        province_code="37", ward_code="14464")
    principal = Verifier(SETTINGS).verify(token)
    assert principal.sub == "can-bo-7"
    assert principal.roles == frozenset({"secretariat", "host"})
    assert principal.agency_id == "so-tnmt-37"
    assert principal.province_code == "37"
    assert principal.ward_code == "14464"
    assert principal.has("host") and not principal.has("admin")
    assert principal.claims["aud"] == SETTINGS.jwt_audience


def test_optional_claims_absent():
    principal = Verifier(SETTINGS).verify(issue_token(SETTINGS, "u", ["auditor"]))
    assert (principal.agency_id, principal.province_code, principal.ward_code) == (None,) * 3


def test_unknown_roles_dropped_and_a_single_role_string_accepted():
    principal = Verifier(SETTINGS).verify(hs256(claims(roles=["admin", "god", "root"])))
    assert principal.roles == frozenset({"admin"})
    assert Verifier(SETTINGS).verify(hs256(claims(roles="host"))).roles == frozenset({"host"})


def test_expired_token():
    token = issue_token(SETTINGS, "u", ["host"], ttl=-60)
    with pytest.raises(AuthError, match="expired"):
        Verifier(SETTINGS).verify(token)


def test_wrong_secret():
    token = issue_token(replace(SETTINGS, jwt_secret="another-secret-that-is-long-enough-99"),
                        "u", ["host"])
    with pytest.raises(AuthError):
        Verifier(SETTINGS).verify(token)


def test_wrong_audience_and_issuer():
    with pytest.raises(AuthError):
        Verifier(SETTINGS).verify(issue_token(replace(SETTINGS, jwt_audience="other"), "u",
                                              ["host"]))
    with pytest.raises(AuthError):
        Verifier(SETTINGS).verify(issue_token(replace(SETTINGS, jwt_issuer="evil"), "u",
                                              ["host"]))
    no_aud = claims()
    del no_aud["aud"]
    with pytest.raises(AuthError):
        Verifier(SETTINGS).verify(hs256(no_aud))


def test_missing_sub_or_bad_roles():
    no_sub = claims()
    del no_sub["sub"]
    with pytest.raises(AuthError):
        Verifier(SETTINGS).verify(hs256(no_sub))
    with pytest.raises(AuthError):
        Verifier(SETTINGS).verify(hs256(claims(sub="")))
    with pytest.raises(AuthError):
        Verifier(SETTINGS).verify(hs256(claims(roles={"admin": True})))


def test_garbage_and_unsigned_tokens():
    for token in ("", "abc", "a.b.c"):
        with pytest.raises(AuthError):
            Verifier(SETTINGS).verify(token)
    unsigned = jwt.encode(claims(roles=["admin"]), None, algorithm="none")
    with pytest.raises(AuthError):
        Verifier(SETTINGS).verify(unsigned)


# --- scope -------------------------------------------------------------------------

PROVINCE = Principal("p", frozenset({"secretariat"}), province_code="37")
WARD = Principal("w", frozenset({"front_officer"}), province_code="37", ward_code="14464")
NATIONWIDE = Principal("a", frozenset({"admin"}))
PROVINCE_ADMIN = Principal("pa", frozenset({"admin"}), province_code="37")
NO_SCOPE = Principal("n", frozenset({"host"}))


def test_province_scoped():
    assert PROVINCE.covers("37") and PROVINCE.covers("37", "14464")
    assert PROVINCE.covers("37", "14470")
    assert not PROVINCE.covers("01") and not PROVINCE.covers(None)
    assert PROVINCE.scope_filter() == {"locality.province_code": "37"}
    assert PROVINCE.scope_filter("") == {"province_code": "37"}
    PROVINCE.require_scope("37", "14464")
    with pytest.raises(Forbidden):
        PROVINCE.require_scope("01")


def test_ward_scoped():
    assert WARD.covers("37", "14464")
    assert not WARD.covers("37", "14470")
    assert not WARD.covers("37")  # a province-wide record is beyond one commune
    assert not WARD.covers("01", "14464")
    assert WARD.scope_filter() == {"locality.province_code": "37",
                                   "locality.ward_code": "14464"}
    with pytest.raises(Forbidden):
        WARD.require_scope("37", "14470")


def test_nationwide_admin():
    assert NATIONWIDE.nationwide
    assert NATIONWIDE.covers("01") and NATIONWIDE.covers("37", "14464") and NATIONWIDE.covers(None)
    assert NATIONWIDE.scope_filter() == {}
    assert not PROVINCE_ADMIN.nationwide
    assert not PROVINCE_ADMIN.covers("01")
    assert PROVINCE_ADMIN.scope_filter() == {"locality.province_code": "37"}


def test_no_scope_sees_nothing():
    assert not NO_SCOPE.nationwide
    assert not NO_SCOPE.covers("37") and not NO_SCOPE.covers(None)
    assert NO_SCOPE.scope_filter() == {"locality.province_code": {"$in": []}}
    with pytest.raises(Forbidden):
        NO_SCOPE.require_scope("37")


# --- RS256 against a JWKS served over real HTTP on the loopback ---------------------

def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa_key()


@pytest.fixture(scope="module")
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key(), as_dict=True)
    body = json.dumps({"keys": [{**jwk, "kid": "idp-1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def rs256(key: rsa.RSAPrivateKey, kid: str = "idp-1", **extra) -> str:
    return jwt.encode(claims(**extra), key, algorithm="RS256", headers={"kid": kid})


def test_rs256_token_from_the_jwks_key(jwks_url, signing_key):
    verifier = Verifier(replace(SETTINGS, jwt_jwks_url=jwks_url))
    principal = verifier.verify(rs256(signing_key, roles=["agency_officer"],
                                      agency_id="so-tnmt-37", province_code="37"))
    assert principal.sub == "u-1"
    assert principal.roles == frozenset({"agency_officer"})
    assert principal.agency_id == "so-tnmt-37"


def test_rs256_token_from_another_key_rejected(jwks_url):
    verifier = Verifier(replace(SETTINGS, jwt_jwks_url=jwks_url))
    intruder = rsa_key()
    with pytest.raises(AuthError):
        verifier.verify(rs256(intruder))  # same kid, wrong key
    with pytest.raises(AuthError):
        verifier.verify(rs256(intruder, kid="idp-2"))  # kid not in the JWKS


def test_jwks_mode_refuses_hs256_and_wrong_audience(jwks_url, signing_key):
    verifier = Verifier(replace(SETTINGS, jwt_jwks_url=jwks_url))
    with pytest.raises(AuthError):
        verifier.verify(issue_token(SETTINGS, "u", ["admin"]))
    with pytest.raises(AuthError):
        verifier.verify(rs256(signing_key, aud="someone-else"))
