"""DOCX from the templates (docxtpl), PDF/A-2b from the same DOCX (LibreOffice).

One template, two formats: the office edits and signs the DOCX; the public gets
the PDF that LibreOffice makes of that very DOCX, as PDF/A-2b so that it can
later carry a digital signature and be archived. LibreOffice rather than a
pure-Python PDF library because it lays out the Word file itself: what the
office sees in Word is what is published, with no second layout to keep in step.

Repeatable: the same data gives the same bytes. A DOCX is a zip whose entries
carry the time they were written and whose core properties carry creation and
change times; a PDF carries dates, a document id and XMP metadata. Each of these
is set from the document's own date (``when``), and the PDF's trailer id is
derived from its content (qpdf's deterministic id).
"""

from __future__ import annotations

import fcntl
import io
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pikepdf
from docxtpl import DocxTemplate

from services.common.clock import VN_TZ

TEMPLATES = Path(__file__).with_name("templates")
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF_TYPE = "application/pdf"
# PDF/A-2b: LibreOffice's SelectPdfVersion 2 (JSON filter options, LibreOffice 7.4+).
_FILTER = ('pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"},'
           '"UseTaggedPDF":{"type":"boolean","value":"true"}}')
_lock = threading.Lock()  # with the file lock below: one conversion at a time


class ConverterMissing(RuntimeError):
    """LibreOffice is not installed (``deploy/doc-tools.sh`` installs it)."""


def soffice() -> str:
    found = os.environ.get("SOFFICE") or shutil.which("soffice") or shutil.which("libreoffice")
    if not found:
        raise ConverterMissing("LibreOffice (soffice) is not installed; run deploy/doc-tools.sh "
                               "or apt-get install libreoffice-writer-nogui")
    return found


def docx(template: str, context: dict[str, Any], when: datetime, title: str,
         author: str) -> bytes:
    """Fill ``templates/<template>.docx``; byte for byte the same for the same inputs."""
    tpl = DocxTemplate(TEMPLATES / f"{template}.docx")
    tpl.render(context, autoescape=True)
    core = tpl.docx.core_properties
    stamp = when.astimezone(VN_TZ).replace(tzinfo=None, microsecond=0)  # zip times are local
    # python-docx writes these as UTC ('Z'): give it UTC
    core.created = core.modified = core.last_printed = when.astimezone(UTC).replace(
        tzinfo=None, microsecond=0)
    core.title, core.subject, core.author = title, title, author
    core.last_modified_by = author
    core.revision = 1
    out = io.BytesIO()
    tpl.save(out)
    return _stable_zip(out.getvalue(), stamp)


def _stable_zip(data: bytes, stamp: datetime) -> bytes:
    """The same entries in the same order, each dated ``stamp`` instead of 'now'."""
    moment = (max(stamp.year, 1980), stamp.month, stamp.day, stamp.hour, stamp.minute,
              stamp.second - stamp.second % 2)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=moment)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def pdf(docx_bytes: bytes, when: datetime, title: str, author: str,
        timeout: float = 120.0) -> bytes:
    """PDF/A-2b of the DOCX, with its dates and ids derived from ``when`` and its content."""
    binary = soffice()
    root = Path(os.environ.get("DOITHOAI_VAR") or tempfile.gettempdir()).resolve() / "libreoffice"
    root.mkdir(parents=True, exist_ok=True)
    # One conversion at a time on this machine: a LibreOffice profile cannot be shared by
    # two running instances, and reusing one warm profile saves seconds per document.
    with _lock, open(root / "lock", "w") as held, \
            tempfile.TemporaryDirectory(prefix="doithoai-doc-") as tmp:
        fcntl.flock(held, fcntl.LOCK_EX)
        work = Path(tmp)
        source = work / "document.docx"
        source.write_bytes(docx_bytes)
        profile = root / "profile"
        command = [binary, f"-env:UserInstallation={profile.as_uri()}", "--headless",
                   "--norestore", "--nolockcheck", "--nodefault", "--convert-to", _FILTER,
                   "--outdir", str(work), str(source)]
        # Its own process group, so that a hung conversion is killed with its children.
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 start_new_session=True,
                                 env={**os.environ, "HOME": str(root), "SAL_USE_VCLPLUGIN": "svp"})
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            raise RuntimeError(
                f"LibreOffice did not convert the document in {timeout:.0f} s") from None
        made = work / "document.pdf"
        if child.returncode != 0 or not made.exists():
            raise RuntimeError("LibreOffice could not convert the document: "
                               + (err or out).decode(errors="replace")[-500:])
        return _stable_pdf(made.read_bytes(), when, title, author)


def _pdf_date(moment: datetime) -> str:
    local = moment.astimezone(VN_TZ)
    return local.strftime("D:%Y%m%d%H%M%S+07'00'")


def _stable_pdf(data: bytes, when: datetime, title: str, author: str) -> bytes:
    iso = when.astimezone(VN_TZ).replace(microsecond=0).isoformat()
    with pikepdf.open(io.BytesIO(data)) as doc:
        with doc.open_metadata(set_pikepdf_as_editor=False) as meta:
            meta["dc:title"] = title
            meta["dc:creator"] = [author]
            for key in ("xmp:CreateDate", "xmp:ModifyDate", "xmp:MetadataDate"):
                meta[key] = iso
            for key in ("xmpMM:DocumentID", "xmpMM:InstanceID"):
                if key in meta:
                    del meta[key]
        # LibreOffice embeds an sRGB profile (PDF/A output intent) made on the spot:
        # its header carries the time it was made (ICC.1, bytes 24-35).
        for intent in doc.Root.get("/OutputIntents", []):
            profile = intent.get("/DestOutputProfile")
            if profile is not None:
                raw = bytearray(profile.read_bytes())
                if len(raw) >= 128 and not any(raw[84:100]):  # no profile id to keep in step
                    local = when.astimezone(VN_TZ)
                    raw[24:36] = struct.pack(">6H", local.year, local.month, local.day,
                                             local.hour, local.minute, local.second)
                    profile.write(bytes(raw))
        for key in ("/DocChecksum", "/ID"):  # LibreOffice's, different on every run
            if key in doc.trailer:
                del doc.trailer[key]
        doc.docinfo["/CreationDate"] = _pdf_date(when)
        doc.docinfo["/ModDate"] = _pdf_date(when)
        doc.docinfo["/Title"] = title
        doc.docinfo["/Author"] = author
        out = io.BytesIO()
        doc.save(out, deterministic_id=True, compress_streams=True)
        return out.getvalue()
