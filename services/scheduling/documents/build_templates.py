"""Builds the .docx templates kept in ``templates/`` (run once after changing the layout).

    .venv/bin/python -m services.scheduling.documents.build_templates

The templates carry docxtpl (Jinja) tags; ``render.py`` fills them. They are
built with python-docx rather than drawn by hand so that the layout is
reviewable as code: A4, margins 20/20/30/15 mm (top, bottom, left, right:
inside the ranges of NĐ 30/2020 Phụ lục I and HD 36-HD/VPTW), Times New Roman
(LibreOffice substitutes the metric-compatible Liberation Serif), page numbers
centred in the top margin from page 2 on. An office may edit a template in
Word as long as the tags stay intact.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from docx import Document
from docx.enum.section import WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt
from docx.table import _Cell

HERE = Path(__file__).with_name("templates")
FONT = "Times New Roman"
LEFT_COL, RIGHT_COL = Cm(7.0), Cm(9.5)  # 16.5 cm of text width on A4 with 30/15 mm margins
CENTER, JUSTIFY = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.JUSTIFY
LEFT = WD_ALIGN_PARAGRAPH.LEFT


def _font(run, size: float, bold=False, italic=False, underline=False) -> None:
    run.font.name = FONT
    run.font.size = Pt(size)
    run.font.bold = bold
    run.font.italic = italic
    run.font.underline = underline
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), FONT)


def para(where, text: str = "", size: float = 14, bold=False, italic=False, underline=False,
         align=CENTER, indent: float | None = None, after: float = 0, before: float = 0):
    """A paragraph in a document or a table cell, with one run."""
    if isinstance(where, _Cell) and len(where.paragraphs) == 1 and not where.paragraphs[0].text \
            and not getattr(where, "_used", False):
        p = where.paragraphs[0]
        where._used = True  # type: ignore[attr-defined]
    else:
        p = where.add_paragraph()
    p.alignment = align
    fmt = p.paragraph_format
    fmt.space_after, fmt.space_before = Pt(after), Pt(before)
    fmt.line_spacing = 1.0
    if indent is not None:
        fmt.first_line_indent = Cm(indent)
    if text:
        _font(p.add_run(text), size, bold, italic, underline)
    return p


def tag(where, text: str) -> None:
    """A paragraph holding only a docxtpl block tag ({%p ... %}): it disappears on render."""
    para(where, text, size=2)


def rule(where, indent_cm: float) -> None:
    """A short solid line under a heading (NĐ 30: 'đường kẻ ngang, nét liền')."""
    p = para(where, size=1)
    fmt = p.paragraph_format
    fmt.left_indent = fmt.right_indent = Cm(indent_cm)
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"),
                       ("w:color", "000000")):
        bottom.set(qn(key), value)
    borders.append(bottom)
    p._p.get_or_add_pPr().append(borders)
    run = p.add_run("")
    _font(run, 1)


def _widths(table, widths) -> None:
    table.autofit = False
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width  # the grid, which LibreOffice lays out by
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width


def setup(doc) -> None:
    section = doc.sections[0]
    section.start_type = WD_SECTION.NEW_PAGE
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    section.header_distance = Mm(10)
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(14)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), FONT)
    # Page numbers centred in the top margin, none on the first page (NĐ 30, Phụ lục I).
    section.different_first_page_header_footer = True
    p = section.header.paragraphs[0]
    p.alignment = CENTER
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "2"
    run.append(text)
    field.append(run)
    p._p.append(field)
    core = doc.core_properties
    core.author = core.last_modified_by = "doithoai"
    core.created = core.modified = datetime(2026, 1, 1)
    core.revision = 1
    core.title = core.subject = core.keywords = core.comments = core.category = ""


def header(doc) -> None:
    """The two-column head: issuing body and number | national or Party title and date."""
    table = doc.add_table(rows=1, cols=2)
    _widths(table, (LEFT_COL, RIGHT_COL))
    left, right = table.rows[0].cells
    tag(left, "{%p if superior %}")
    para(left, "{{ superior }}", size=13)
    tag(left, "{%p endif %}")
    tag(left, "{%p for line in body_lines %}")
    para(left, "{{ line }}", size=13, bold=True)
    tag(left, "{%p endfor %}")
    tag(left, "{%p if party %}")
    para(left, "*", size=13)
    tag(left, "{%p else %}")
    rule(left, 2.3)
    tag(left, "{%p endif %}")
    para(left, "{{ number_line }}", size=13, before=6)
    tag(right, "{%p if party %}")
    para(right, "ĐẢNG CỘNG SẢN VIỆT NAM", size=15, bold=True)
    rule(right, 1.25)
    tag(right, "{%p else %}")
    para(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", size=12, bold=True)
    para(right, "Độc lập - Tự do - Hạnh phúc", size=13, bold=True)
    rule(right, 1.9)
    tag(right, "{%p endif %}")
    para(right, "{{ date_line }}", size=14, italic=True, before=6)


def title(doc) -> None:
    para(doc, "{{ doc_type }}", size=15, bold=True, before=18)
    tag(doc, "{%p for line in summary %}")
    para(doc, "{{ line }}", size=14, bold=True)
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p if party %}")
    para(doc, "-----", size=14)
    tag(doc, "{%p else %}")
    rule(doc, 6.5)
    tag(doc, "{%p endif %}")
    para(doc, "", size=8)


def body(doc, name: str) -> None:
    tag(doc, "{%p for text in " + name + " %}")
    para(doc, "{{ text }}", align=JUSTIFY, indent=1.0, after=6)
    tag(doc, "{%p endfor %}")


def signature(doc, with_recipients: bool = True) -> None:
    """Recipients on the left, authority, position and signer on the right."""
    table = doc.add_table(rows=1, cols=2)
    _widths(table, (Cm(8.0), Cm(8.5)))
    left, right = table.rows[0].cells
    if with_recipients:
        tag(left, "{%p if party %}")
        para(left, "Nơi nhận:", size=14, underline=True, align=LEFT, before=12)
        tag(left, "{%p else %}")
        para(left, "Nơi nhận:", size=12, bold=True, italic=True, align=LEFT, before=12)
        tag(left, "{%p endif %}")
        tag(left, "{%p for r in recipients %}")
        para(left, "{{ r }}", size=11, align=LEFT)
        tag(left, "{%p endfor %}")
    tag(right, "{%p for line in sign_lines %}")
    para(right, "{{ line }}", size=14, bold=True, before=0)
    tag(right, "{%p endfor %}")
    for _ in range(4):
        para(right, "", size=14)
    para(right, "{{ signer }}", size=14, bold=True)


def _opening() -> Document:
    """A new document with the page set up, the letterhead and the title."""
    doc = Document()
    setup(doc)
    header(doc)
    title(doc)
    return doc


def _headed_lists(doc, items: str, lines: str) -> None:
    """For each of ``items`` (a context list): its ``heading`` in bold, then each of its
    ``lines`` as a paragraph."""
    tag(doc, f"{{%p for s in {items} %}}")
    para(doc, "{{ s.heading }}", bold=True, align=JUSTIFY, indent=1.0, after=3, before=6)
    tag(doc, f"{{%p for text in s.{lines} %}}")
    para(doc, "{{ text }}", align=JUSTIFY, indent=1.0, after=3)
    tag(doc, "{%p endfor %}")
    tag(doc, "{%p endfor %}")


def notice() -> Document:
    doc = _opening()
    body(doc, "intro")
    tag(doc, "{%p for c in conclusions %}")
    para(doc, "{{ c.n }}. {{ c.text }}", align=JUSTIFY, indent=1.0, after=3)
    para(doc, "- Cơ quan chủ trì thực hiện: {{ c.responsible }}.", align=JUSTIFY, indent=1.0)
    tag(doc, "{%p if c.coordinating %}")
    para(doc, "- Cơ quan phối hợp: {{ c.coordinating }}.", align=JUSTIFY, indent=1.0)
    tag(doc, "{%p endif %}")
    para(doc, "- Thời hạn: {{ c.deadline }}.", align=JUSTIFY, indent=1.0, after=6)
    tag(doc, "{%p endfor %}")
    body(doc, "closing")
    signature(doc)
    return doc


def minutes() -> Document:
    doc = _opening()
    _headed_lists(doc, "sections", "lines")
    body(doc, "closing")
    table = doc.add_table(rows=1, cols=2)
    _widths(table, (Cm(8.25), Cm(8.25)))
    left, right = table.rows[0].cells
    para(left, "THƯ KÝ", bold=True, before=12)
    para(left, "(Ký, ghi rõ họ tên)", size=13, italic=True)
    para(right, "CHỦ TRÌ", bold=True, before=12)
    para(right, "(Ký, ghi rõ họ tên)", size=13, italic=True)
    for _ in range(3):
        para(right, "")
    para(right, "{{ signer }}", bold=True)
    return doc


def programme() -> Document:
    doc = _opening()
    body(doc, "intro")
    _headed_lists(doc, "quarters", "lines")
    body(doc, "closing")
    signature(doc)
    return doc


def main() -> None:
    HERE.mkdir(exist_ok=True)
    for name, build in (("notice", notice), ("minutes", minutes), ("programme", programme)):
        build().save(HERE / f"{name}.docx")
        print(f"wrote {HERE / name}.docx")


if __name__ == "__main__":
    main()
