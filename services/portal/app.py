"""WSGI entry point for gunicorn: ``services.portal.app:app``."""

from services.portal.web import create_app

app = create_app()
