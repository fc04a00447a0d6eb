"""Officer authentication (JWT bearer) and authorisation by role and locality scope.

Locally tokens are HS256 with a shared secret (``python -m services.cli token``);
in production RS256 tokens from any OpenID Connect provider are checked against
its JWKS. Claims: ``sub``, ``roles``, ``agency_id``, ``province_code``,
``ward_code``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
from flask import current_app, g, request

from services.common import localities
from services.common.clock import utcnow
from services.common.config import Settings

ROLES = ("citizen", "front_officer", "secretariat", "host", "agency_officer", "auditor", "admin")
READ_ONLY = ("auditor",)

# The role sets every service authorises with (``require(*auth.OFFICERS)``); a service
# names its own set only where no other has the same one.
OFFICERS = ("front_officer", "secretariat", "host", "agency_officer", "auditor", "admin")
# Officers who answer for an area rather than an agency: read what their area holds.
AREA_OFFICERS = ("front_officer", "secretariat", "host", "auditor", "admin")
# Decide on petitions (accept, reject, answer, merge) and file them for a citizen.
DECIDERS = ("front_officer", "secretariat", "admin")
# Prepare and run dialogues, programmes and reception days.
EDITORS = ("secretariat", "host", "admin")
# Report on and resolve an agency's commitments.
AGENCY_WRITERS = ("agency_officer", "secretariat", "admin")
LOCAL_ISSUER = "doithoai-local"  # the default JWT_ISSUER of local HS256 tokens


class AuthError(Exception):
    """401: no token, or one that does not verify."""


class Forbidden(Exception):
    """403: a valid token that may not do this."""

    detail_vi: str | None = None


class OutsideScope(Forbidden):
    """403 for a list or report filtered on an area (or agency) outside the caller's own.

    The one scope rule of every service: asking for what one may not see is refused,
    never answered with an empty list that looks like "nothing happened there"."""

    detail_vi = ("Bộ lọc nằm ngoài phạm vi bạn phụ trách: bạn chỉ xem được dữ liệu "
                 "của địa bàn (hoặc cơ quan) mình.")

    def __init__(self, detail: str = "filter outside your locality scope") -> None:
        super().__init__(detail)


@dataclass(frozen=True)
class Principal:
    sub: str
    roles: frozenset[str]
    agency_id: str | None = None
    province_code: str | None = None
    ward_code: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def nationwide(self) -> bool:
        """Admins without a province in their token see every locality."""
        return "admin" in self.roles and not self.province_code

    def covers(self, province_code: str | None, ward_code: str | None = None) -> bool:
        """Whether a record in this locality is within the principal's scope."""
        if self.nationwide:
            return True
        if not self.province_code or province_code != self.province_code:
            return False
        return not self.ward_code or ward_code == self.ward_code

    def scope_filter(self, prefix: str = "locality.") -> dict[str, Any]:
        """A MongoDB filter restricting a query to this principal's localities."""
        if self.nationwide:
            return {}
        if not self.province_code:
            return {f"{prefix}province_code": {"$in": []}}  # no scope: sees nothing
        found: dict[str, Any] = {f"{prefix}province_code": self.province_code}
        if self.ward_code:
            found[f"{prefix}ward_code"] = self.ward_code
        return found

    def require_scope(self, province_code: str | None, ward_code: str | None = None) -> None:
        if not self.covers(province_code, ward_code):
            raise Forbidden("outside your locality scope")

    @property
    def agency_only(self) -> bool:
        """An agency officer without an area role: sees their agency's work, any area."""
        return self.has("agency_officer") and not self.has(*AREA_OFFICERS)

    def check_filter(self, province_code: str | None = None, ward_code: str | None = None,
                     agency_id: str | None = None) -> None:
        """The scope rule for list and report filters: raise ``OutsideScope`` (403) when
        a filter names a province, commune or agency outside the caller's; no filter, or
        one inside, passes (the list is then narrowed to the scope as usual)."""
        if self.agency_only:
            if agency_id and agency_id != self.agency_id:
                raise OutsideScope("agency filter outside your agency")
            return
        if self.nationwide:
            return
        if province_code and province_code != self.province_code:
            raise OutsideScope("province filter outside your locality scope")
        if not ward_code:
            return
        if self.ward_code and ward_code != self.ward_code:
            raise OutsideScope("commune filter outside your locality scope")
        if not province_code and _province_of(ward_code) not in (None, self.province_code):
            raise OutsideScope("commune filter outside your locality scope")


def _province_of(ward_code: str) -> str | None:
    try:
        return localities.ward(ward_code).province_code
    except localities.UnknownLocality:
        return None  # no such commune: the filter matches nothing, nothing to refuse


class Verifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None

    def _provider_token(self, token: str) -> bool:
        """RS256 from the provider's JWKS; with JWT_ACCEPT_LOCAL outside production an
        HS256 token with the local secret is still accepted beside it, so that `make run`
        (Keycloak for the portal) keeps the CLI's and `make demo`'s tokens working."""
        if self._jwks is None:
            return False
        if self.settings.env == "production" or not self.settings.jwt_accept_local:
            return True
        try:
            return jwt.get_unverified_header(token).get("alg") != "HS256"
        except jwt.PyJWTError:
            return True

    def verify(self, token: str) -> Principal:
        try:
            if self._provider_token(token):
                key = self._jwks.get_signing_key_from_jwt(token).key
                claims = jwt.decode(token, key, algorithms=["RS256"],
                                    audience=self.settings.jwt_audience,
                                    issuer=self.settings.jwt_issuer)
            else:
                claims = jwt.decode(token, self.settings.jwt_secret, algorithms=["HS256"],
                                    audience=self.settings.jwt_audience,
                                    issuer=[self.settings.jwt_issuer, LOCAL_ISSUER]
                                    if self._jwks is not None else self.settings.jwt_issuer)
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        roles = claims.get("roles") or []
        if isinstance(roles, str):
            roles = [roles]
        if not claims.get("sub") or not isinstance(roles, list):
            raise AuthError("token lacks sub or roles")
        return Principal(
            sub=str(claims["sub"]), roles=frozenset(r for r in roles if r in ROLES),
            agency_id=claims.get("agency_id"), province_code=claims.get("province_code"),
            ward_code=claims.get("ward_code"), claims=claims,
        )


def issue_token(settings: Settings, sub: str, roles: list[str], *, agency_id: str | None = None,
                province_code: str | None = None, ward_code: str | None = None,
                ttl: int = 8 * 3600) -> str:
    """An HS256 token for the local secret (development, tests, the CLI)."""
    now = utcnow()
    claims: dict[str, Any] = {"sub": sub, "roles": roles, "iat": now,
                              "exp": now + timedelta(seconds=ttl),
                              "aud": settings.jwt_audience, "iss": settings.jwt_issuer}
    for name, value in (("agency_id", agency_id), ("province_code", province_code),
                        ("ward_code", ward_code)):
        if value:
            claims[name] = value
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def bearer() -> Principal | None:
    """The request's principal, or None without an Authorization header."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("expected 'Authorization: Bearer <token>'")
    principal = current_app.extensions["verifier"].verify(token.strip())
    g.principal = principal
    return principal


def current() -> Principal:
    return g.principal


def check_filter(args: dict[str, Any], *, agency: bool = False) -> None:
    """``current().check_filter`` on a request's parsed query (``province_code``,
    ``ward_code`` and, with ``agency``, ``agency_id``): call it in every list and report
    view before asking the service layer."""
    current().check_filter(args.get("province_code"), args.get("ward_code"),
                           args.get("agency_id") if agency else None)


def require(*roles: str, write: bool = False):
    """Decorator: a verified token with one of ``roles``; ``write`` refuses read-only roles."""
    allowed = set(roles or OFFICERS)

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            principal = bearer()
            if principal is None:
                raise AuthError("this endpoint needs a bearer token")
            if not principal.roles & allowed:
                raise Forbidden(f"needs one of the roles: {', '.join(sorted(allowed))}")
            if write and principal.roles <= set(READ_ONLY):
                raise Forbidden("read-only role")
            return view(*args, **kwargs)

        inner._roles = sorted(allowed)  # read by the OpenAPI security marker
        return inner

    return wrap
