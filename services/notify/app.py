"""WSGI entry point: ``gunicorn services.notify.app:app``."""

from __future__ import annotations

from services.notify import bootstrap

app = bootstrap.build().web()
