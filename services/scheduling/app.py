"""WSGI entry point: ``gunicorn services.scheduling.app:app`` (port 8002)."""

from __future__ import annotations

from typing import Any

from services.scheduling import bootstrap

_app: Any = None


def _build():
    global _app
    if _app is None:
        _app = bootstrap.build().web()
    return _app


class _LazyApp:
    """Built on first request, so importing the module touches no server."""

    def __call__(self, environ: dict, start_response: Any):
        return _build()(environ, start_response)

    def __getattr__(self, name: str) -> Any:
        return getattr(_build(), name)


app = _LazyApp()
