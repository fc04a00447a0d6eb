"""WSGI entry point: ``gunicorn services.intake.app:app``."""

from __future__ import annotations

from services.intake import bootstrap

app = bootstrap.build().web()
