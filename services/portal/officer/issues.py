"""Officers' home, hot issues (intake) and the leaders' overview (scheduling's compliance,
followup's commitments)."""

from __future__ import annotations

from collections import Counter

from flask import get_flashed_messages, render_template, request

from services.common.clock import VN_TZ, vn_today
from services.portal.auth import officer_required, token
from services.portal.citizen import commitments_of, tally
from services.portal.officer.base import CATEGORIES, blueprint, me, my_wards
from services.portal.pages import backend, now, settings, when


@blueprint.get("/")
@officer_required()
def home():
    return render_template("officer/home.html", messages=get_flashed_messages())


@blueprint.get("/van-de")
@officer_required("secretariat", "host", "front_officer", "auditor", "admin")
def issues():
    user = me()
    ward_code = request.args.get("ward_code") or user.get("ward_code")
    category = request.args.get("category") or None
    page = backend().get("intake", "/api/v1/issues", token(),
                     province_code=user.get("province_code"), ward_code=ward_code,
                     category=category, page_size=50)
    return render_template("officer/issues.html", items=page["items"], total=page["total"],
                           ward_code=ward_code, category=category, wards=my_wards(),
                           categories=CATEGORIES)


@blueprint.get("/van-de/<issue_id>")
@officer_required("secretariat", "host", "front_officer", "auditor", "admin")
def issue(issue_id: str):
    found = backend().get("intake", f"/api/v1/issues/{issue_id}", token())
    petitions = backend().get("intake", "/api/v1/petitions", token(), issue_id=issue_id,
                          province_code=found["locality"]["province_code"], page_size=100)
    return render_template("officer/issue.html", issue=found, petitions=petitions["items"],
                           categories=CATEGORIES)


@blueprint.get("/tong-hop")
@officer_required("host", "auditor", "admin", "secretariat", "front_officer")
def overview():
    user = me()
    province = user.get("province_code") or settings().province_code
    year = vn_today(now()).year
    compliance = backend().get("scheduling", "/api/v1/compliance", token(), province_code=province,
                           year=year)
    rows = compliance["items"]
    if user.get("ward_code"):
        rows = [r for r in rows if r["ward_code"] == user["ward_code"]]
    items = commitments_of(token(), province_code=province, ward_code=user.get("ward_code"))
    by_agency = tally(items, lambda c: c["agency_id"])
    overdue = sorted((c for c in items if c.get("overdue") and c["status"] != "resolved"),
                     key=lambda c: c["deadline"])
    held = backend().get("scheduling", "/api/v1/dialogues", token(), province_code=province,
                     ward_code=user.get("ward_code"), page_size=200)["items"]
    months = Counter(when(d["starts_at"]).astimezone(VN_TZ).strftime("%m/%Y")
                     for d in held if d["state"] in ("held", "concluded"))
    per_month = [{"month": m, "count": n} for m, n in
                 sorted(months.items(), key=lambda x: (x[0][3:], x[0][:2]))]
    met = sum(1 for r in rows if r["annual_minimum_met"])
    return render_template("officer/overview.html", compliance=rows, year=year, met=met,
                           by_agency=by_agency, overdue=overdue, per_month=per_month,
                           total=len(items))
