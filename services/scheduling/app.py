"""WSGI entry point: ``gunicorn services.scheduling.app:app`` (port 8002)."""

from services.scheduling import bootstrap

app = bootstrap.build().web()
