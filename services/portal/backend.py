"""Calls to the four services' HTTP APIs, with the signed-in officer's token or the
portal's own service-account token (client credentials) for public pages."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from services.portal.settings import PortalSettings


class ApiError(Exception):
    """A service answered with an error; ``fields`` maps a bad field to its message."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{status}: {problem.get('detail') or problem.get('title')}")
        self.status = status
        self.problem = problem

    @property
    def fields(self) -> dict[str, str]:
        """Flattened `errors` of a 422 problem: {'locality.ward_code': 'message', ...}."""
        found: dict[str, str] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for key, inner in value.items():
                    if key in ("json", "query", "form"):
                        walk(prefix, inner)
                    else:
                        walk(f"{prefix}.{key}" if prefix else str(key), inner)
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                found[prefix] = value[0]
            elif isinstance(value, str):
                found[prefix] = value

        walk("", self.problem.get("errors") or {})
        return found

    @property
    def detail_vi(self) -> str:
        return (self.problem.get("detail_vi") or self.problem.get("detail")
                or self.problem.get("title") or f"Lỗi {self.status}")


def _raise_for(response: requests.Response) -> None:
    if response.status_code >= 400:
        try:
            problem = response.json()
        except ValueError:
            problem = {"title": response.reason}
        raise ApiError(response.status_code, problem if isinstance(problem, dict) else {})


class Backend:
    """One session per process; every call names the service and carries a token."""

    def __init__(self, settings: PortalSettings) -> None:
        self.settings = settings
        self.http = requests.Session()
        self.urls = {"intake": settings.intake_url.rstrip("/"),
                     "scheduling": settings.scheduling_url.rstrip("/"),
                     "followup": settings.followup_url.rstrip("/")}
        self._service_token: tuple[str, float] | None = None
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None

    def call(self, method: str, service: str, path: str, *, token: str | None = None,
             params: dict[str, Any] | None = None, json: Any = None,
             client: str | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if client:
            # The citizen's own address, so intake's per-address rate limit is theirs.
            headers["X-Forwarded-For"] = client
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.http.request(method, self.urls[service] + path, params=params,
                                     json=json, headers=headers,
                                     timeout=self.settings.timeout)
        _raise_for(response)
        return response.json() if response.content else {}

    def download(self, service: str, path: str, token: str) -> requests.Response:
        """A file the service serves (a DOCX or PDF), with its headers; errors as ApiError."""
        response = self.http.get(self.urls[service] + path, timeout=max(self.settings.timeout, 60),
                                 headers={"Authorization": f"Bearer {token}"})
        _raise_for(response)
        return response

    def get(self, service: str, path: str, token: str | None = None,
            client: str | None = None, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        return self.call("GET", service, path, token=token, params=clean, client=client)

    def post(self, service: str, path: str, body: Any, token: str | None = None,
             client: str | None = None) -> Any:
        return self.call("POST", service, path, token=token, json=body, client=client)

    # --- the portal's own identity, for public pages --------------------------

    def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            url = self.settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
            response = self.http.get(url, timeout=self.settings.timeout)
            response.raise_for_status()
            self._metadata = response.json()
        return self._metadata

    def service_token(self) -> str:
        """A client-credentials token of the portal's service account, cached until a
        minute before it expires."""
        with self._lock:
            if self._service_token and self._service_token[1] > time.monotonic():
                return self._service_token[0]
            response = self.http.post(
                self.metadata()["token_endpoint"],
                data={"grant_type": "client_credentials"},
                auth=(self.settings.oidc_client_id, self.settings.oidc_client_secret),
                timeout=self.settings.timeout)
            response.raise_for_status()
            body = response.json()
            ttl = max(int(body.get("expires_in", 300)) - 60, 10)
            self._service_token = (body["access_token"], time.monotonic() + ttl)
            return body["access_token"]
