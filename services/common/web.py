"""The Flask app factory every service uses.

It gives each service the same behaviour at its edges: ``application/problem+json``
errors (422 naming each bad field, never a 500 on bad input), request and
correlation ids in every log line and in the events a request causes,
``/healthz``, ``/readyz``, ``/metrics`` (Prometheus, multi-process safe under
gunicorn) and the OpenAPI document at ``/openapi.json``.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, g, jsonify, request
from flask_smorest import Api, Blueprint
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from werkzeug.exceptions import HTTPException

from services.common import logs
from services.common.auth import AuthError, Forbidden, Verifier
from services.common.config import Settings
from services.common.errors import DomainError

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"

_VI = {
    400: "Yêu cầu không hợp lệ.",
    401: "Bạn cần đăng nhập để thực hiện thao tác này.",
    403: "Bạn không có quyền thực hiện thao tác này.",
    404: "Không tìm thấy.",
    405: "Phương thức không được hỗ trợ.",
    409: "Thao tác không thực hiện được ở trạng thái hiện tại.",
    413: "Dữ liệu gửi lên quá lớn.",
    415: "Định dạng dữ liệu không được hỗ trợ.",
    422: "Dữ liệu không hợp lệ, vui lòng kiểm tra các trường được nêu.",
    429: "Bạn gửi quá nhiều yêu cầu, vui lòng thử lại sau ít phút.",
    500: "Hệ thống đang gặp sự cố, vui lòng thử lại sau.",
    503: "Hệ thống tạm thời không sẵn sàng.",
}

REQUESTS = Counter("http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
LATENCY = Histogram("http_request_seconds", "HTTP request latency", ["service", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


def problem(status: int, title: str, detail: str | None = None, *,
            detail_vi: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["detail_vi"] = detail_vi or _VI.get(status, _VI[400])
    body["instance"] = request.path
    if logs.request_id.get():
        body["request_id"] = logs.request_id.get()
    body.update({k: v for k, v in extra.items() if v is not None})
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM
    return response


def _field_errors(messages: Any) -> dict[str, Any]:
    """webargs nests errors by location ({'json': {...}}); flatten to field paths."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            flat[prefix or "_schema"] = value if isinstance(value, list) else [value]

    if isinstance(messages, dict) and set(messages) <= {"json", "query", "path", "form",
                                                        "headers", "files"}:
        for location, inner in messages.items():
            walk("" if location == "json" else location, inner)
    else:
        walk("", messages)
    return flat


# What every service's API keeps, at the head of each /openapi.json.
CONVENTIONS = (
    "Errors are application/problem+json (RFC 9457) with `detail_vi`, the message in "
    "Vietnamese for people. Lists take `page` (1-100,000) and `page_size` (1-200, default "
    "20) and answer `{items, total, page, page_size}`. A list or report filtered on a "
    "province, commune or (for an agency officer) agency outside the caller's scope "
    "answers 403, never an empty list; without a filter it is narrowed to the scope. "
    "Contract changes are recorded in CHANGELOG.md."
)


class ProblemApi(Api):
    """flask-smorest's Api with RFC 9457 errors."""

    def handle_http_exception(self, error: HTTPException):  # type: ignore[override]
        data = getattr(error, "data", None) or {}
        code = error.code or 500
        if code == 422:
            errors = _field_errors(data.get("messages") or data.get("errors") or {})
            fields = ", ".join(sorted(errors))
            return problem(422, "Unprocessable content", f"invalid fields: {fields}",
                           errors=errors)
        if code >= 500:
            log.error("server error", exc_info=error.original_exception
                      if hasattr(error, "original_exception") else None)
        return problem(code, error.name, data.get("message") or error.description)


def create_app(settings: Settings, *, title: str, blueprints: Iterable[Blueprint],
               ready_checks: dict[str, Callable[[], bool]] | None = None,
               extensions: dict[str, Any] | None = None) -> Flask:
    """A Flask app for one service; ``extensions`` is how views find their dependencies."""
    app = Flask(settings.service)
    app.config.update(
        API_TITLE=title, API_VERSION="v1", OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/", OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=2 * 1024 * 1024, JSON_SORT_KEYS=False,
        API_SPEC_OPTIONS={"info": {"description": CONVENTIONS}, "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}}},
    )
    app.json.ensure_ascii = False
    app.extensions["settings"] = settings
    app.extensions["verifier"] = Verifier(settings)
    app.extensions.update(extensions or {})
    api = ProblemApi(app)
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    app.extensions["api"] = api
    _mark_security(app, api)
    _install_errors(app)
    _install_context(app, settings)
    _install_probes(app, settings, ready_checks or {})
    return app


def _mark_security(app: Flask, api: Api) -> None:
    """Mark in the OpenAPI document every operation whose view needs a bearer token."""
    paths = api.spec._paths  # apispec keeps the registered operations here
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        if view is None or path not in paths:
            continue
        owner = getattr(view, "view_class", None)
        for method in rule.methods or ():
            handler = getattr(owner, method.lower(), None) if owner else view
            roles = getattr(handler, "_roles", None)
            operation = paths[path].get(method.lower())
            if roles and operation is not None:
                operation["security"] = [{"bearer": []}]
                operation.setdefault("description", "")
                operation["description"] += f"\n\nRoles: {', '.join(roles)}."


def _install_errors(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        return problem(exc.status, exc.title, exc.detail, detail_vi=exc.detail_vi, **exc.extra)

    @app.errorhandler(AuthError)
    def unauthorised(exc: AuthError):
        response = problem(401, "Unauthorized", str(exc))
        response.headers["WWW-Authenticate"] = 'Bearer realm="doithoai"'
        return response

    @app.errorhandler(Forbidden)
    def forbidden(exc: Forbidden):
        return problem(403, "Forbidden", str(exc), detail_vi=exc.detail_vi)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        if isinstance(exc, HTTPException):
            return app.extensions["api"].handle_http_exception(exc)
        log.exception("unhandled error")
        return problem(500, "Internal server error")


def _install_context(app: Flask, settings: Settings) -> None:
    @app.before_request
    def start() -> None:
        g.started = time.perf_counter()
        rid = request.headers.get("X-Request-ID") or str(uuid.uuid4())
        g.request_id = rid
        logs.request_id.set(rid)
        logs.correlation_id.set(request.headers.get("X-Correlation-ID") or rid)
        logs.causation_id.set(None)

    @app.after_request
    def finish(response: Response) -> Response:
        route = request.url_rule.rule if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        REQUESTS.labels(settings.service, request.method, route, response.status_code).inc()
        LATENCY.labels(settings.service, route).observe(elapsed)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if logs.correlation_id.get():
            response.headers["X-Correlation-ID"] = logs.correlation_id.get()
        return response

    @app.teardown_request
    def clear(_exc: BaseException | None) -> None:
        logs.request_id.set(None)
        logs.correlation_id.set(None)


def _install_probes(app: Flask, settings: Settings,
                    checks: dict[str, Callable[[], bool]]) -> None:
    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "service": settings.service}

    @app.get("/readyz")
    def readyz():
        results = {}
        for name, check in checks.items():
            try:
                results[name] = bool(check())
            except Exception:
                results[name] = False
        ready = all(results.values())
        body = {"status": "ready" if ready else "unavailable", "checks": results}
        return body, 200 if ready else 503

    @app.get("/metrics")
    def metrics():
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            payload = generate_latest(registry)
        else:
            payload = generate_latest()
        for collector in app.extensions.get("metrics_collectors", ()):
            # Figures a service reads at scrape time (e.g. from its database): a fresh
            # registry each time, so nothing is kept between scrapes.
            extra = CollectorRegistry(auto_describe=False)
            extra.register(collector)
            payload += generate_latest(extra)
        return Response(payload, mimetype=CONTENT_TYPE_LATEST)

# The public name, for a service's own 422 handler (intake words errors for citizens).
field_errors = _field_errors
