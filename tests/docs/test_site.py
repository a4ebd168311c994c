"""The README is the front door to the site: short, and every link it has leads to a page of
docs/ (the site's own links and anchors are checked by `make docs`, mkdocs --strict)."""

from __future__ import annotations

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
README = (REPO_ROOT / "README.md").read_text()
DOCS = REPO_ROOT / "docs"


def test_the_readme_stays_a_front_door() -> None:
    assert len(README.splitlines()) < 200


def test_every_link_of_the_readme_leads_to_a_page() -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)

    assert links
    for link in links:
        assert link.startswith("docs/"), link
        assert (REPO_ROOT / link).is_file(), link


def test_the_readme_links_every_page_but_the_home_page() -> None:
    linked = set(re.findall(r"\]\(docs/([^)#\s]+)", README))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}

    assert linked == pages - {"index.md"}
