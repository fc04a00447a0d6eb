"""Structured JSON logs with the request and correlation ids of the work in hand."""

from __future__ import annotations

import logging
import os
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


class _TextFormatter(logging.Formatter):
    """One readable line for people (``make run``): time, level, logger, message, extras."""

    _plain = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
        "message", "asctime", "service", "request_id", "correlation_id", "taskName"}

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items()
                          if k not in self._plain and v is not None)
        line = (f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} "
                f"{record.name}: {record.getMessage()}")
        if extras:
            line += f"  [{extras}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup(service: str, level: str = "INFO", fmt: str | None = None) -> None:
    """Log lines on stderr for every logger of the process; call once at start-up.

    JSON by default (for log collectors); ``LOG_FORMAT=text`` gives readable lines.
    """
    global _service
    _service = service
    handler = logging.StreamHandler(sys.stderr)
    if (fmt or os.environ.get("LOG_FORMAT", "json")) == "text":
        handler.setFormatter(_TextFormatter())
    else:
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
    # "No partition metadata" at start-up only means a topic just created is propagating.
    logging.getLogger("kafka.coordinator.assignors").setLevel(logging.ERROR)
