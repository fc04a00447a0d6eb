"""Structured JSON logs with the request and correlation ids of the work in hand."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
causation_id: ContextVar[str | None] = ContextVar("causation_id", default=None)

_service = "dev"


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.service = _service
        record.request_id = request_id.get()
        record.correlation_id = correlation_id.get()
        return True


def setup(service: str, level: str = "INFO") -> None:
    """JSON lines on stderr for every logger of the process; call once at start-up."""
    global _service
    _service = service
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(request_id)s "
        "%(correlation_id)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        timestamp=False,
    ))
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # kafka-python is chatty at INFO about every connection.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("pymongo").setLevel(max(logging.WARNING, root.level))
