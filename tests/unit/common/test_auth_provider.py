"""With an OpenID provider configured (JWT_JWKS_URL) and JWT_ACCEPT_LOCAL, development still
accepts the local HS256 tokens of the CLI and `make demo`; production never does."""

from __future__ import annotations

from dataclasses import replace

import pytest

from services.common.auth import AuthError, Verifier, issue_token
from services.common.config import Settings

LOCAL = Settings.from_env({})
PROVIDER = replace(LOCAL, jwt_jwks_url="http://127.0.0.1:9/realms/x/certs",
                   jwt_issuer="http://127.0.0.1:9/realms/x", jwt_accept_local=True)


def test_development_accepts_local_tokens_beside_the_provider():
    token = issue_token(LOCAL, "cli-admin", ["admin"], province_code="37")
    principal = Verifier(PROVIDER).verify(token)
    assert principal.sub == "cli-admin" and principal.province_code == "37"


def test_production_accepts_only_the_provider():
    token = issue_token(LOCAL, "cli-admin", ["admin"])
    with pytest.raises(AuthError):
        Verifier(replace(PROVIDER, env="production")).verify(token)


def test_without_the_switch_only_the_provider_is_accepted():
    token = issue_token(LOCAL, "cli-admin", ["admin"])
    with pytest.raises(AuthError):
        Verifier(replace(PROVIDER, jwt_accept_local=False)).verify(token)


def test_a_local_token_with_a_foreign_issuer_is_refused():
    token = issue_token(replace(LOCAL, jwt_issuer="evil"), "u", ["admin"])
    with pytest.raises(AuthError):
        Verifier(PROVIDER).verify(token)
