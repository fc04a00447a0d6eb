"""The app factory's edges, with Flask's test client: problem+json, auth, probes, OpenAPI."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from openapi_spec_validator import OpenAPIV31SpecValidator

from services.common import auth
from services.common.auth import issue_token, require
from services.common.config import Settings
from services.common.errors import Conflict, Invalid, NotFound
from services.common.web import PROBLEM, create_app

SETTINGS = Settings(service="webtest", env="test")


class PetitionIn(Schema):
    title = fields.String(required=True, validate=validate.Length(5, 200))
    province_code = fields.String(required=True, validate=validate.Regexp(r"^\d{2}$"))
    count = fields.Integer(load_default=1)


class PetitionOut(Schema):
    title = fields.String()
    province_code = fields.String()
    count = fields.Integer()


class WhoAmI(Schema):
    sub = fields.String()
    roles = fields.List(fields.String())


def build(ready: bool = False) -> Flask:
    blp = Blueprint("petitions", __name__, url_prefix="/api/v1", description="Phản ánh")

    @blp.route("/petitions")
    class Petitions(MethodView):
        @blp.arguments(PetitionIn)
        @blp.response(201, PetitionOut)
        def post(self, body):
            return body

    @blp.route("/petitions/<pid>/close")
    class Close(MethodView):
        @blp.response(200, PetitionOut)
        def post(self, pid):
            if pid == "missing":
                raise NotFound(f"no petition {pid}")
            if pid == "bad":
                raise Invalid("note", "note is required to close",
                              detail_vi="Cần ghi chú khi đóng.")
            raise Conflict("petition is already closed",
                           detail_vi="Phản ánh đã được đóng.", state="closed")

    @blp.route("/secret")
    class Secret(MethodView):
        @require("secretariat", "admin")
        @blp.response(200, WhoAmI)
        def get(self):
            principal = auth.current()
            return {"sub": principal.sub, "roles": sorted(principal.roles)}

        @require("secretariat", "auditor", write=True)
        @blp.response(200, WhoAmI)
        def put(self):
            return {"sub": auth.current().sub, "roles": []}

    @blp.route("/boom")
    class Boom(MethodView):
        @blp.response(200, WhoAmI)
        def get(self):
            raise RuntimeError("a bug, with personal data that must not leak: 0912345678")

    def failing() -> bool:
        raise ConnectionError("down")

    checks = {"x": lambda: ready} if ready else {"x": lambda: False, "y": failing}
    return create_app(SETTINGS, title="Web test", blueprints=[blp], ready_checks=checks)


@pytest.fixture
def client():
    app = build()
    return app.test_client()


def bearer(*roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SETTINGS, 'u-9', list(roles))}"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["title"]
    assert body["detail_vi"]
    assert body["instance"] == response.request.path
    return body


def test_valid_post(client):
    response = client.post("/api/v1/petitions", json={"title": "Đường làng ngập",
                                                      "province_code": "37"})
    assert response.status_code == 201
    assert response.get_json() == {"title": "Đường làng ngập", "province_code": "37", "count": 1}
    assert "Đường làng ngập" in response.get_data(as_text=True)  # not \u-escaped


def test_bad_body_is_422_naming_each_field(client):
    response = client.post("/api/v1/petitions", json={"title": "x", "province_code": "Ninh Bình",
                                                      "count": "many"})
    body = assert_problem(response, 422)
    assert set(body["errors"]) == {"title", "province_code", "count"}
    assert all(isinstance(v, list) and v for v in body["errors"].values())
    for name in ("title", "province_code", "count"):
        assert name in body["detail"]
    assert "không hợp lệ" in body["detail_vi"]


def test_missing_fields_422(client):
    body = assert_problem(client.post("/api/v1/petitions", json={}), 422)
    assert set(body["errors"]) == {"title", "province_code"}


def test_unknown_field_rejected(client):
    body = assert_problem(client.post("/api/v1/petitions", json={
        "title": "Đường làng ngập", "province_code": "37", "is_admin": True}), 422)
    assert set(body["errors"]) == {"is_admin"}


def test_bodies_that_are_not_a_json_object(client):
    # a form post carries no JSON: the required fields are missing
    body = assert_problem(client.post("/api/v1/petitions", data="title=x",
                                      content_type="application/x-www-form-urlencoded"), 422)
    assert set(body["errors"]) == {"title", "province_code"}
    assert_problem(client.post("/api/v1/petitions", data="{bad json",
                               content_type="application/json"), 400)
    body = assert_problem(client.post("/api/v1/petitions", json=[1, 2]), 422)
    assert set(body["errors"]) == {"_schema"}


def test_too_large_body_is_413(client):
    body = assert_problem(client.post("/api/v1/petitions", data=b" " * (3 * 1024 * 1024),
                                      content_type="application/json"), 413)
    assert body["detail_vi"] == "Dữ liệu gửi lên quá lớn."


def test_unknown_route_is_404_problem(client):
    body = assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert body["detail_vi"] == "Không tìm thấy."


def test_wrong_method_is_405_problem(client):
    assert_problem(client.delete("/api/v1/petitions"), 405)


def test_domain_errors(client):
    body = assert_problem(client.post("/api/v1/petitions/p1/close"), 409)
    assert body["detail"] == "petition is already closed"
    assert body["detail_vi"] == "Phản ánh đã được đóng."
    assert body["state"] == "closed"
    body = assert_problem(client.post("/api/v1/petitions/missing/close"), 404)
    assert body["detail"] == "no petition missing"
    body = assert_problem(client.post("/api/v1/petitions/bad/close"), 422)
    assert body["errors"] == {"note": ["note is required to close"]}
    assert body["detail_vi"] == "Cần ghi chú khi đóng."


def test_unexpected_error_is_500_without_details(client):
    body = assert_problem(client.get("/api/v1/boom"), 500)
    assert "0912345678" not in str(body)
    assert "RuntimeError" not in str(body)


def test_require_needs_a_token(client):
    response = client.get("/api/v1/secret")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(client.get("/api/v1/secret", headers={"Authorization": "Basic abc"}), 401)
    assert_problem(client.get("/api/v1/secret", headers={"Authorization": "Bearer nope"}), 401)


def test_require_checks_the_role(client):
    body = assert_problem(client.get("/api/v1/secret", headers=bearer("host")), 403)
    assert "secretariat" in body["detail"]
    response = client.get("/api/v1/secret", headers=bearer("secretariat"))
    assert response.status_code == 200
    assert response.get_json() == {"sub": "u-9", "roles": ["secretariat"]}


def test_write_refuses_read_only_roles(client):
    assert_problem(client.put("/api/v1/secret", headers=bearer("auditor")), 403)
    assert client.put("/api/v1/secret", headers=bearer("secretariat")).status_code == 200
    assert client.put("/api/v1/secret", headers=bearer("auditor", "secretariat")).status_code == 200


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "service": "webtest"}


def test_readyz_503_when_a_check_fails(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "checks": {"x": False, "y": False}}


def test_readyz_200_when_all_pass():
    response = build(ready=True).test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"x": True}}


def test_openapi_is_valid_3_1(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"] == "Web test"
    OpenAPIV31SpecValidator(spec).validate()
    assert "/api/v1/petitions" in spec["paths"]
    assert "post" in spec["paths"]["/api/v1/petitions"]
    assert "422" in spec["paths"]["/api/v1/petitions"]["post"]["responses"]
    assert "PetitionIn" in spec["components"]["schemas"]
    assert "bearer" in spec["components"]["securitySchemes"]


def test_request_id_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "req-123"})
    assert response.headers["X-Request-ID"] == "req-123"
    assert response.headers["X-Correlation-ID"] == "req-123"
    response = client.get("/healthz", headers={"X-Request-ID": "req-124",
                                               "X-Correlation-ID": "corr-9"})
    assert response.headers["X-Correlation-ID"] == "corr-9"
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) >= 16
    assert client.get("/healthz").headers["X-Request-ID"] != generated


def test_problem_carries_the_request_id(client):
    body = assert_problem(client.get("/api/v1/nothing", headers={"X-Request-ID": "req-404"}),
                          404)
    assert body["request_id"] == "req-404"


def test_metrics_count_requests(client):
    client.get("/healthz")
    client.post("/api/v1/petitions", json={})
    text = client.get("/metrics").get_data(as_text=True)
    assert "http_requests_total" in text
    assert 'service="webtest"' in text
    assert 'route="/healthz"' in text and 'status="200"' in text
    assert 'route="/api/v1/petitions"' in text and 'status="422"' in text
    assert "http_request_seconds_bucket" in text
