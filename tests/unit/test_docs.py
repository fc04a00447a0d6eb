"""The docs say what the code is: every repository path they cite exists, and a service
README's "Layout" section names every module of the service."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md", *ROOT.glob("services/*/README.md")])
# A path in the repository, as docs cite them: `services/intake/store.py`, `deploy/infra.sh`.
PATH = re.compile(r"(?<![\w./-])((?:services|tests|deploy|bench|docs)/[\w./-]*\w/?)")


def cited(doc: Path) -> set[str]:
    return {m.group(1) for m in PATH.finditer(doc.read_text(encoding="utf-8"))}


def test_the_docs_cite_paths():
    every = set().union(*(cited(doc) for doc in DOCS))
    assert any(p.startswith("services/") and p.endswith(".py") for p in every)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_path_exists(doc):
    missing = sorted(p for p in cited(doc) if not (ROOT / p).exists())
    assert not missing, f"{doc.relative_to(ROOT)} cites paths that do not exist: {missing}"


def layout(readme: Path) -> str:
    text = readme.read_text(encoding="utf-8")
    found = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    return found.group(1) if found else ""


@pytest.mark.parametrize("readme", sorted(ROOT.glob("services/*/README.md")),
                         ids=lambda p: p.parent.name)
def test_layout_names_every_module(readme):
    section = layout(readme)
    assert section, f"{readme.relative_to(ROOT)} has no '## Layout' section"
    service = readme.parent
    modules = {p.name for p in service.glob("*.py") if p.name != "__init__.py"}
    modules |= {p.name for p in service.iterdir()
                if p.is_dir() and (p / "__init__.py").exists()}
    missing = sorted(m for m in modules if f"`{m}" not in section)
    assert not missing, f"{readme.relative_to(ROOT)} Layout does not name {missing}"


def scope_checked_views() -> list[tuple[str, ast.FunctionDef]]:
    """Every view function in a service's API that applies the scope rule."""
    found = []
    for api in sorted(ROOT.glob("services/**/api.py")):
        for node in ast.walk(ast.parse(api.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and any(
                    isinstance(call, ast.Call) and getattr(call.func, "id", "") == "check_filter"
                    for call in ast.walk(node)):
                found.append((f"{api.relative_to(ROOT)}:{node.name}", node))
    return found


def test_views_applying_the_scope_rule_document_the_403():
    views = scope_checked_views()
    assert len(views) >= 10  # intake 2, scheduling 6, followup 2 when this was written
    undocumented = [name for name, node in views if "403" not in (ast.get_docstring(node) or "")]
    assert not undocumented, f"OpenAPI descriptions without the scope rule's 403: {undocumented}"


def test_the_api_conventions_state_the_kit_page_limits():
    from services.common.schemas import MAX_PAGE, MAX_PAGE_SIZE, PageArgs
    from services.common.web import CONVENTIONS

    assert f"`page` (1-{MAX_PAGE:,})" in CONVENTIONS
    assert f"`page_size` (1-{MAX_PAGE_SIZE}, default {PageArgs().load({})['page_size']})" \
        in CONVENTIONS
    assert "403" in CONVENTIONS and "detail_vi" in CONVENTIONS
