"""HTTP API of the documents: officers' downloads and the public register of notices."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Response, current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from services.common import auth
from services.common.contracts.fields import PROVINCE, WARD
from services.common.contracts.scheduling import DIALOGUE_KINDS, LEVELS
from services.common.schemas import PageArgs, page, page_of
from services.scheduling.documents import render
from services.scheduling.documents.service import Documents, File

documents = Blueprint("documents", __name__, url_prefix="/api/v1",
                      description="Documents officials sign (conclusion notices, minutes, "
                                  "programmes) and the public register of conclusion notices")


def _binary(kind: str) -> dict[str, Any]:
    types = {"docx": [render.DOCX_TYPE], "pdf": [render.PDF_TYPE],
             "any": [render.DOCX_TYPE, render.PDF_TYPE]}[kind]
    return {"responses": {"200": {
        "description": "the document (DOCX to edit and sign, PDF/A-2b to publish)",
        "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in types}}}}


def docs() -> Documents:
    return current_app.extensions["documents"]


def send(found: File) -> Response:
    """The file, as an attachment named in ASCII with the exact name in UTF-8 (RFC 6266)."""
    response = Response(found.data, mimetype=found.mimetype)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{found.filename}"; filename*=UTF-8\'\'{quote(found.filename)}')
    response.headers["Cache-Control"] = "no-store"
    return response


class RegisterArgs(PageArgs):
    province_code = fields.String(required=True, validate=PROVINCE)
    ward_code = fields.String(validate=WARD)
    level = fields.String(validate=validate.OneOf(LEVELS))
    year = fields.Integer(validate=validate.Range(2000, 2100))
    late = fields.Boolean(metadata={"description": "true: only notices issued more than 10 "
                                                   "days after the dialogue"})


class Host(Schema):
    name = fields.String()
    title = fields.String()


class RegisterEntry(Schema):
    dialogue_id = fields.String()
    number = fields.String()
    number_display = fields.String(metadata={"description": "as printed: 'Số: 12/TB-UBND' "
                                                            "or 'Số 12-TB/ĐU'"})
    issued_at = fields.AwareDateTime()
    issued_on = fields.String(metadata={"description": "dd/mm/yyyy, Vietnam"})
    held_at = fields.AwareDateTime()
    held_on = fields.String()
    days_after_dialogue = fields.Integer()
    late = fields.Boolean()
    published_within_10_days = fields.Boolean()
    issuer = fields.String()
    unit_code = fields.String()
    unit_name = fields.String()
    level = fields.String(validate=validate.OneOf(LEVELS))
    kind = fields.String(validate=validate.OneOf(DIALOGUE_KINDS))
    topic = fields.String()
    host = fields.Nested(Host)
    signed_by = fields.String(allow_none=True)
    conclusion_count = fields.Integer()
    pdf_url = fields.String()


RegisterPage = page_of(RegisterEntry, "RegisterPage")


@documents.get("/dialogues/<dialogue_id>/documents/<any(notice, minutes):kind>."
               "<any(docx, pdf):fmt>")
@auth.require(*auth.OFFICERS)
@documents.doc(**_binary("any"))
def dialogue_document(dialogue_id: str, kind: str, fmt: str):
    """The conclusion notice (once concluded) or the minutes (once held), as DOCX or PDF."""
    return send(docs().dialogue_document(auth.current(), dialogue_id, kind, fmt))


@documents.get("/programmes/<programme_id>/document.<any(docx, pdf):fmt>")
@auth.require(*auth.OFFICERS)
@documents.doc(**_binary("any"))
def programme_document(programme_id: str, fmt: str):
    """A published annual programme, its dialogues by quarter, as DOCX or PDF."""
    return send(docs().programme_document(auth.current(), programme_id, fmt))


@documents.get("/notices")
@documents.arguments(RegisterArgs, location="query")
@documents.response(200, RegisterPage)
def register(args: dict[str, Any]):
    """Public: issued conclusion notices of a province or commune, newest first, with
    whether each was published within 10 days of the dialogue."""
    items, total = docs().register(args)
    return page(items, total, args)


@documents.get("/notices/<dialogue_id>/pdf")
@documents.doc(**_binary("pdf"))
def notice_pdf(dialogue_id: str):
    """Public: the PDF/A of an issued conclusion notice."""
    return send(docs().public_notice(dialogue_id))
