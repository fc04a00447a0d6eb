"""Documents of dialogues and programmes, and the public register of conclusion notices.

Officers download a DOCX (to adjust and sign) or a PDF/A (to publish) of a
dialogue's conclusion notice or minutes, or of a published programme, within
their locality scope. Anyone may read the register of issued notices of a
province or commune, with whether each was published within 10 days of the
dialogue (Luật Tổ chức chính quyền địa phương 2025, art. 43), and download each
notice's PDF.

Agency names: scheduling holds agency ids only (the directory with names and
contacts belongs to notify, whose database scheduling does not read). The
names printed come from ``AGENCY_NAMES_FILE`` (YAML, id -> name); an id not
listed is printed as it is, for the office to correct in the DOCX.

PDFs are cached by the hash of their DOCX (the same DOCX always gives the same
PDF), so the register serves a notice without starting LibreOffice again.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common import agencies
from services.common.auth import Principal
from services.common.clock import aware, vn_date, vn_today
from services.common.errors import Invalid, NotFound
from services.common.localities import UnknownLocality, validate
from services.scheduling import domain
from services.scheduling.documents import content, render
from services.scheduling.documents import format as f

KINDS = ("notice", "minutes")
FORMATS = ("docx", "pdf")
TITLES = {"notice": "Thông báo kết luận", "minutes": "Biên bản đối thoại",
          "programme": "Chương trình đối thoại"}
SLUGS = {"notice": "thong-bao-ket-luan", "minutes": "bien-ban-doi-thoai",
         "programme": "chuong-trinh-doi-thoai"}


class AgencyNames:
    """Readable agency names from a YAML file: ``agencies: {so-xd-37: Sở Xây dựng …}``."""

    def __init__(self, path: str | None) -> None:
        self.names: dict[str, str] = {}
        if path:
            self.names = {k: f.squash(v) for k, v in agencies.load(path).items()}

    def __call__(self, agency_id: str) -> str:
        return self.names.get(agency_id, agency_id)


@dataclass
class File:
    data: bytes
    mimetype: str
    filename: str


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("Đ", "D").replace("đ", "d"))
    return re.sub(r"[^A-Za-z0-9]+", "-", folded.encode("ascii", "ignore").decode()).strip("-")


class Documents:
    def __init__(self, scheduling: Any, names_file: str | None) -> None:
        self.scheduling = scheduling
        self.store = scheduling.store
        self.names = AgencyNames(names_file)

    # --- officers --------------------------------------------------------------

    def dialogue_document(self, who: Principal, dialogue_id: str, kind: str,
                          fmt: str) -> File:
        doc = self.scheduling.dialogue(who, dialogue_id)
        return self._dialogue_file(doc, kind, fmt)

    def programme_document(self, who: Principal, programme_id: str, fmt: str) -> File:
        doc = self.scheduling.programme(who, programme_id)
        context = content.programme(doc)
        where = f.place(doc["locality"])
        title = f"{TITLES['programme']} năm {doc['year']} - {where.name}"
        name = f"{SLUGS['programme']}-{doc['year']}-{_ascii(where.name)}"
        return self._file("programme", context, doc["published_at"], title, where, fmt, name)

    # --- the public register -----------------------------------------------------

    def register(self, args: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        province_code, ward_code = args["province_code"], args.get("ward_code")
        try:
            validate(province_code, ward_code)
        except UnknownLocality as exc:
            raise Invalid("ward_code" if ward_code else "province_code", str(exc),
                          detail_vi="Địa bàn không hợp lệ.") from None
        query: dict[str, Any] = {"state": domain.CONCLUDED,
                                 "locality.province_code": province_code}
        if ward_code:
            query["locality.ward_code"] = ward_code
        if args.get("level"):
            query["level"] = args["level"]
        if args.get("year"):
            query["held_year"] = args["year"]
        if args.get("late") is not None:
            query["late"] = args["late"]
        docs, total = self.store.issued_notices(query, args["page"], args["page_size"])
        return [self._entry(d) for d in docs], total

    def public_notice(self, dialogue_id: str) -> File:
        doc = self.store.dialogue(dialogue_id)
        if doc is None or doc["state"] != domain.CONCLUDED:
            raise NotFound(f"no issued conclusion notice for dialogue {dialogue_id}",
                           detail_vi="Không tìm thấy thông báo kết luận đã ban hành.")
        return self._dialogue_file(doc, "notice", "pdf")

    def _entry(self, doc: dict[str, Any]) -> dict[str, Any]:
        notice = doc["notice"]
        where = f.place(doc["locality"])
        days = (vn_today(notice["issued_at"]) - vn_today(doc["held_at"])).days
        party = f.is_party(doc["host"]["title"])
        form = f.form(doc["locality"], party)
        return {
            "dialogue_id": doc["_id"], "number": notice["number"],
            "number_display": form.number_line(notice["number"], "TB"),
            "issued_at": aware(notice["issued_at"]), "issued_on": vn_date(notice["issued_at"]),
            "held_at": aware(doc["held_at"]), "held_on": vn_date(doc["held_at"]),
            "days_after_dialogue": days, "late": bool(doc.get("late")),
            "published_within_10_days": not doc.get("late"),
            "issuer": form.body, "unit_code": where.code, "unit_name": where.name,
            "level": doc["level"], "kind": doc["kind"], "topic": doc["topic"],
            "host": doc["host"], "signed_by": notice.get("signed_by"),
            "conclusion_count": len(doc.get("conclusions", [])),
            "pdf_url": f"/api/v1/notices/{doc['_id']}/pdf",
        }

    # --- rendering ---------------------------------------------------------------

    def _dialogue_file(self, doc: dict[str, Any], kind: str, fmt: str) -> File:
        if kind == "notice":
            context = content.notice(doc, self.names)
            when = doc["notice"]["issued_at"]
            label = doc["notice"]["number"]
        else:
            issues = self.store.issue_titles(
                [i["issue_id"] for i in doc.get("agenda", []) if i.get("issue_id")])
            context = content.minutes(doc, self.names, issues)
            when = doc["held_at"]
            label = vn_today(doc["held_at"]).isoformat()
        where = f.place(doc["locality"])
        title = f"{TITLES[kind]} - {f.squash(doc['topic'])}"
        name = f"{SLUGS[kind]}-{_ascii(label)}-{_ascii(where.name)}"
        return self._file(kind, context, when, title, where, fmt, name)

    def _file(self, template: str, context: dict[str, Any], when: datetime, title: str,
              where: f.Place, fmt: str, name: str) -> File:
        author = context["issuer"]
        data = render.docx(template, context, aware(when), title, author)
        if fmt == "docx":
            return File(data, render.DOCX_TYPE, f"{name}.docx")
        return File(self._pdf(data, aware(when), title, author), render.PDF_TYPE, f"{name}.pdf")

    def _pdf(self, docx: bytes, when: datetime, title: str, author: str) -> bytes:
        key = hashlib.sha256(docx).hexdigest()
        found = self.store.rendered_pdf(key)
        if found is not None:
            return found
        data = render.pdf(docx, when, title, author)
        self.store.keep_pdf(key, data, self.scheduling.now)
        return data

