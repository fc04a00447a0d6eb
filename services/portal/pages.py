"""What the portal's pages share: the backend and the clock of the running app, service
times read back, and one way to send a form on to a service and answer the person."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import current_app, flash, redirect
from flask.typing import ResponseReturnValue

from services.portal.backend import ApiError, Backend
from services.portal.settings import PortalSettings

# A form shown again with its errors beside the fields is an ordinary page: it answers
# 200, since browsers log every 4xx page load as a console error.
FORM_AGAIN = 200


def settings() -> PortalSettings:
    return current_app.config["PORTAL"]


def backend() -> Backend:
    return current_app.extensions["backend"]


def agencies() -> dict[str, str]:
    """The province's agencies a dialogue or conclusion can name: id -> name."""
    return current_app.extensions["agencies"]


def now() -> datetime:
    return current_app.extensions["clock"]()


def when(value: str) -> datetime:
    """A service's ISO 8601 time (``Z`` or an offset) as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def field_errors(exc: ApiError) -> dict[str, str]:
    """A service's refusal by form field (the last part of its field path), and the whole."""
    found = {k.split(".")[-1]: v for k, v in exc.fields.items()}
    found.setdefault("form", exc.detail_vi)
    return found


def send(service: str, path: str, body: dict[str, Any], token: str, *, done: str,
         then: str, again: Callable[..., ResponseReturnValue]) -> ResponseReturnValue:
    """POST a form's content to a service. Accepted: ``done`` is flashed and the browser
    goes to ``then`` (303, so a reload does not send it twice). Refused as a conflict or
    invalid (409, 422): ``again(errors=..., status=...)`` shows the page with the reasons
    beside the fields. Anything else is the app's error page."""
    try:
        backend().post(service, path, body, token)
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        return again(errors=field_errors(exc), status=FORM_AGAIN)
    flash(done)
    return redirect(then, 303)
