"""WSGI entry point: ``gunicorn services.followup.app:app``."""

from __future__ import annotations

from services.followup import bootstrap

app = bootstrap.build().web()
