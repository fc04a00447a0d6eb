"""Documents officials sign: conclusion notices, minutes and annual programmes.

- ``format``: the prescribed header, number, date line and signature, citing
  Nghị định 30/2020/NĐ-CP (state) and Hướng dẫn 36-HD/VPTW (Party);
- ``content``: what each document says, from scheduling's data;
- ``render``: DOCX from the templates in ``templates/`` (docxtpl), PDF/A-2b from
  that DOCX (LibreOffice), both repeatable byte for byte;
- ``service`` and ``api``: officers' downloads and the public register;
- ``build_templates``: rebuilds the templates (python-docx).
"""
