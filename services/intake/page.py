"""The citizen's look-up page (``/tra-cuu``) that every acknowledgement SMS points to.

A plain HTML form over the same rule as the API: the tracking code plus the last
four digits of the phone (or the e-mail), and an answer that looks the same for
an unknown code and a wrong second factor.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, current_app, render_template_string, request

from services.common.clock import vn_date, vn_datetime
from services.common.errors import DomainError, TooManyRequests

blueprint = Blueprint("lookup_page", __name__)

PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tra cứu tình trạng giải quyết đơn</title>
<style>
 body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222}
 label{display:block;margin:.6rem 0 .2rem} input{font-size:1.1rem;padding:.4rem;width:100%}
 button{margin-top:1rem;font-size:1.1rem;padding:.5rem 1.2rem} .err{color:#a00}
 .status{font-size:1.3rem;font-weight:bold} li{margin:.3rem 0} blockquote{background:#f4f4f4;
 margin:0;padding:.8rem;border-left:4px solid #2a6}
</style></head><body>
<h1>Tra cứu tình trạng giải quyết đơn (phản ánh, kiến nghị, khiếu nại, tố cáo)</h1>
<form method="get">
 <label for="code">Mã tra cứu</label>
 <input id="code" name="code" value="{{ code }}" placeholder="VD: 7K4M-Q2XC" required>
 <label for="phone_last4">4 số cuối điện thoại đã đăng ký</label>
 <input id="phone_last4" name="phone_last4" value="{{ last4 }}" inputmode="numeric"
        maxlength="4" pattern="[0-9]{4}">
 <button type="submit">Tra cứu</button>
</form>
{% if error %}<p class="err">{{ error }}</p>{% endif %}
{% if view %}
<h2>{{ view.title }}</h2>
<p>Mã: <b>{{ view.tracking_code }}</b> · Lĩnh vực: {{ view.category_name }}
 · Ngày gửi: {{ view.created }}{% if view.due %} · Hạn giải quyết: {{ view.due }}{% endif %}</p>
<p class="status">Trạng thái: {{ view.status_vi }}</p>
{% if view.answer %}<h3>Nội dung trả lời</h3><blockquote>{{ view.answer }}</blockquote>{% endif %}
<h3>Quá trình xử lý</h3>
<ul>{% for h in view.history %}<li>{{ h.at }} — {{ h.status_vi }}{% if h.note %}: {{ h.note }}
{% endif %}</li>{% endfor %}</ul>
{% endif %}
</body></html>"""


def _view(view: dict[str, Any]) -> dict[str, Any]:
    answer = view.get("answer") or {}
    return {
        **view,
        "created": vn_date(view["created_at"]),
        "due": vn_date(date.fromisoformat(str(view["due_date"])[:10]))
        if view.get("due_date") else None,
        "answer": answer.get("text") if isinstance(answer, dict) else answer,
        "history": [{"at": vn_datetime(h["at"]), "status_vi": h["status_vi"],
                     "note": h.get("note")} for h in view["history"] if h.get("at")],
    }


@blueprint.get("/tra-cuu")
def lookup():
    code = (request.args.get("code") or "").strip()
    last4 = (request.args.get("phone_last4") or "").strip()
    email = (request.args.get("email") or "").strip() or None
    context: dict[str, Any] = {"code": code, "last4": last4, "error": None, "view": None}
    status = 200
    if code:
        intake = current_app.extensions["intake"]
        client = request.headers.get("X-Forwarded-For", request.remote_addr) or "?"
        try:
            if not intake.lookup_limiter.allow(f"lookup|{client}"):
                raise TooManyRequests("too many look-ups")
            doc = intake.citizen_doc(code, last4 or None, email)
            context["view"] = _view(intake.citizen_view(doc))
        except DomainError as exc:
            context["error"] = exc.detail_vi
            status = exc.status
    return render_template_string(PAGE, **context), status
