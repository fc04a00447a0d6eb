"""The baseline of the intake benchmark: a Flask endpoint that parses the JSON body and
answers 201, with no validation and no I/O, served by the same gunicorn configuration
(deploy/gunicorn.conf.py) as the services: ``gunicorn --pythonpath bench trivial_app:app``.
"""

from __future__ import annotations

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/api/v1/petitions")
def submit():
    body = request.get_json(silent=True) or {}
    return jsonify({"ok": True, "fields": len(body)}), 201


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
