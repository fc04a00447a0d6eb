"""Officers' sign-in: OpenID Connect authorization code flow with PKCE (Authlib) at the
configured provider (Keycloak locally, the province's own in production). The session
cookie keeps the officer's access token and ID token; the services verify the access
token themselves (RS256 via JWKS), so the portal never widens anybody's rights."""

from __future__ import annotations

import functools
import time
from typing import Any
from urllib.parse import urlencode, urlparse

from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from services.common.auth import ROLES

blueprint = Blueprint("auth", __name__)
oauth = OAuth()

ROLE_NAMES = {"front_officer": "Mặt trận Tổ quốc", "secretariat": "Văn phòng (thư ký)",
              "host": "Lãnh đạo chủ trì", "agency_officer": "Cán bộ cơ quan",
              "auditor": "Thanh tra, giám sát", "admin": "Quản trị", "citizen": "Công dân"}


def init(app) -> None:
    settings = app.config["PORTAL"]
    oauth.init_app(app)
    oauth.register(
        "provider", client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret,
        server_metadata_url=settings.oidc_issuer.rstrip("/")
        + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"})


def user() -> dict[str, Any] | None:
    """The signed-in officer, or None (also when the token has expired)."""
    found = session.get("user")
    if not found or session.get("expires_at", 0) <= time.time():
        return None
    return found


def token() -> str:
    return session["access_token"]


def _safe_next(target: str | None) -> str:
    # Only paths on this site: an open redirect would let a link send officers elsewhere.
    if not target or urlparse(target).netloc or not target.startswith("/"):
        return url_for("officer.home")
    return target


@blueprint.get("/dang-nhap")
def login():
    session["next"] = _safe_next(request.args.get("next"))
    return oauth.provider.authorize_redirect(url_for("auth.callback", _external=True))


@blueprint.get("/dang-nhap/xong")
def callback():
    if "error" in request.args:
        return render_template("error.html", title="Không đăng nhập được",
                               message="Nhà cung cấp định danh từ chối đăng nhập."), 401
    tokens = oauth.provider.authorize_access_token()
    claims = tokens.get("userinfo") or {}
    roles = [r for r in (claims.get("roles") or []) if r in ROLES]
    target = session.pop("next", None)
    session.clear()  # a fresh session after sign-in: no fixation
    session.permanent = True
    session["user"] = {
        "sub": claims.get("sub"), "name": claims.get("name") or claims.get(
            "preferred_username"), "username": claims.get("preferred_username"),
        "roles": roles, "province_code": claims.get("province_code"),
        "ward_code": claims.get("ward_code"), "agency_id": claims.get("agency_id")}
    session["access_token"] = tokens["access_token"]
    session["id_token"] = tokens.get("id_token")
    session["expires_at"] = tokens.get("expires_at") or time.time() + 300
    return redirect(_safe_next(target))


@blueprint.post("/dang-xuat")
def logout():
    id_token = session.get("id_token")
    session.clear()
    home = url_for("citizen.home", _external=True)
    try:
        end = oauth.provider.load_server_metadata().get("end_session_endpoint")
    except Exception:  # the provider is down: the local session is gone all the same
        end = None
    if not end:
        return redirect(home)
    query = {"post_logout_redirect_uri": home,
             "client_id": current_app.config["PORTAL"].oidc_client_id}
    if id_token:
        query["id_token_hint"] = id_token
    return redirect(f"{end}?{urlencode(query)}")


def officer_required(*roles: str):
    """Signed in, with one of ``roles`` (any officer role when none are given)."""

    def wrap(view):
        @functools.wraps(view)
        def inner(*args, **kwargs):
            found = user()
            if found is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if roles and not set(found["roles"]) & set(roles):
                abort(403)
            g.user = found
            return view(*args, **kwargs)

        return inner

    return wrap
