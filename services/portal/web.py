"""The portal's app factory: settings, sign-in, CSRF, blueprints, filters, errors."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask, abort, redirect, render_template, request, send_from_directory, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from services.common import agencies
from services.common.clock import VN_TZ, default_clock, vn_date, vn_datetime
from services.portal import auth
from services.portal.backend import ApiError, Backend
from services.portal.settings import PortalSettings

HERE = Path(__file__).resolve().parent
# The only files served from node_modules: what the pages load, nothing else.
VENDOR = {"pico.min.css": "@picocss/pico/css/pico.min.css",
          "htmx.min.js": "htmx.org/dist/htmx.min.js"}
log = logging.getLogger("portal")


def create_app(settings: PortalSettings | None = None, clock=None) -> Flask:
    settings = settings or PortalSettings.from_env()
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore
    app.config.update(
        PORTAL=settings, SECRET_KEY=settings.session_secret,
        SESSION_COOKIE_NAME="doithoai_session", SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=settings.secure_cookies, SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8), WTF_CSRF_TIME_LIMIT=8 * 3600,
        MAX_CONTENT_LENGTH=1_000_000)
    app.extensions["backend"] = Backend(settings)
    app.extensions["agencies"] = agencies.load(settings.agencies_file or None)
    app.extensions["clock"] = clock or default_clock()
    CSRFProtect(app)
    auth.init(app)

    from services.portal import citizen, officer

    app.register_blueprint(auth.blueprint)
    app.register_blueprint(citizen.blueprint)
    app.register_blueprint(officer.blueprint)
    _filters(app)
    _errors(app)

    @app.get("/static/vendor/<name>")
    def vendor(name: str):
        if name not in VENDOR:
            abort(404)
        path = HERE / "assets" / "node_modules" / VENDOR[name]
        return send_from_directory(path.parent, path.name, max_age=86400)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz():
        try:
            app.extensions["backend"].metadata()
        except Exception as exc:  # the provider is part of being ready
            return {"status": "unavailable", "detail": f"provider: {exc}"}, 503
        return {"status": "ready"}

    @app.after_request
    def headers(response):
        # No inline script or style anywhere, so the policy can forbid them. The sign-out
        # form's redirect goes on to the provider, which form-action must therefore allow.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "form-action 'self' " + _origin(settings.oidc_browser_url or settings.oidc_issuer)
            + "; frame-ancestors 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app


def _origin(url: str) -> str:
    from urllib.parse import urlparse

    parts = urlparse(url)
    return f"{parts.scheme}://{parts.netloc}"


def _parse(value: Any) -> datetime | date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime | date):
        return value
    text = str(value)
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _filters(app: Flask) -> None:
    def dt(value: Any) -> str:
        moment = _parse(value)
        if moment is None:
            return ""
        return vn_datetime(moment) if isinstance(moment, datetime) else vn_date(moment)

    def d(value: Any) -> str:
        moment = _parse(value)
        return vn_date(moment) if moment is not None else ""

    def local_input(value: Any) -> str:
        moment = _parse(value)
        if not isinstance(moment, datetime):
            return ""
        return moment.astimezone(VN_TZ).strftime("%Y-%m-%dT%H:%M")

    app.jinja_env.filters.update(dt=dt, d=d, local_input=local_input)

    @app.context_processor
    def globals_():
        from services.common import localities

        def ward_name(code: str | None) -> str:
            if not code:
                return ""
            try:
                return localities.ward(code).name
            except ValueError:
                return code

        def province_name(code: str | None) -> str:
            try:
                return localities.province(code).name if code else ""
            except ValueError:
                return code or ""

        agencies = app.extensions["agencies"]
        return {"current_user": auth.user(), "role_names": auth.ROLE_NAMES,
                "ward_name": ward_name, "province_name": province_name,
                "agency_name": lambda a: agencies.get(a, a or "")}


def _errors(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        if exc.status == 401:
            # The token expired or was revoked: sign in again, then come back.
            from flask import session

            session.clear()
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if exc.status == 403:
            return render_template("error.html", title="Ngoài phạm vi của Ông/Bà",
                                   message="Tài khoản của Ông/Bà không được xem hoặc thay đổi "
                                           "nội dung này (ngoài vai trò hoặc địa bàn)."), 403
        if exc.status == 404:
            return render_template("error.html", title="Không tìm thấy",
                                   message="Không tìm thấy nội dung Ông/Bà yêu cầu."), 404
        log.warning("service answered %s on %s", exc.status, request.path)
        return render_template("error.html", title="Chưa thực hiện được",
                               message=exc.detail_vi), 502 if exc.status >= 500 else exc.status

    @app.errorhandler(CSRFError)
    def csrf_error(_exc):
        return render_template("error.html", title="Phiên làm việc đã hết hạn",
                               message="Biểu mẫu đã quá hạn hoặc không hợp lệ. Ông/Bà vui "
                                       "lòng tải lại trang và gửi lại."), 400

    @app.errorhandler(403)
    def forbidden(_exc):
        return render_template("error.html", title="Ngoài phạm vi của Ông/Bà",
                               message="Trang này dành cho vai trò khác."), 403

    @app.errorhandler(404)
    def not_found(_exc):
        return render_template("error.html", title="Không tìm thấy trang",
                               message="Địa chỉ này không có trên cổng."), 404

    @app.errorhandler(Exception)
    def unexpected(exc):
        from werkzeug.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            return exc
        log.exception("unexpected error on %s", request.path)
        return render_template("error.html", title="Hệ thống đang bận",
                               message="Ông/Bà vui lòng thử lại sau ít phút."), 500
