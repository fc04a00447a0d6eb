"""Every service publishes a valid OpenAPI 3.1 document of its versioned API."""

from __future__ import annotations

import importlib

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

SERVICES = {"intake": "/api/v1/petitions", "scheduling": "/api/v1/dialogues",
            "followup": "/api/v1/commitments", "notify": "/api/v1/notifications"}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_openapi_document_is_valid_and_covers_the_api(service, settings, monkeypatch):
    monkeypatch.setenv("TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("DB_PREFIX", settings.db_prefix)
    bootstrap = importlib.import_module(f"services.{service}.bootstrap")
    app = bootstrap.build().web()
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200
    spec = response.json
    errors = list(OpenAPIV31SpecValidator(spec).iter_errors())
    assert not errors, errors[:3]
    assert SERVICES[service] in spec["paths"]
    assert all(path.startswith("/api/v1/") for path in spec["paths"])
    assert "bearer" in spec["components"]["securitySchemes"]
    secured = [op for item in spec["paths"].values() for op in item.values()
               if isinstance(op, dict) and op.get("security") == [{"bearer": []}]]
    assert secured, "officer endpoints must be marked as needing a bearer token"
