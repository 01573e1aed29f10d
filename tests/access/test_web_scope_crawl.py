"""A district auditor follows every link the site shows them (GET, same site, up to 400 pages) and
never reads the name or the masked ID number of a person of another district."""
from __future__ import annotations

import html as htmllib
import re
from collections import deque
from urllib.parse import urlsplit

from sqlalchemy import and_, exists, select

from models import (
    Finding,
    Official,
    Person,
    Placement,
    Position,
    Wage,
    Workshop,
    WorkshopStaff,
    db,
)

import web_helpers as wh
from demo_web import OTHER, mask, two_district_demo
from web_helpers import RequestClient, create_users

CAP = 400
PER_PATH = 8  # query-string variants of one path (filters, pages) followed at most
SKIP = ("/static/", "/logout")


def _outsiders() -> tuple[set[str], set[str]]:
    """Names and masked IDs of the people of the other district who hold no post in 奉节县 — minus any
    name or mask that also belongs to someone the auditor may read about (a namesake, a cadre, an
    account holder, a unit or place whose name contains it)."""
    holds_here = exists().where(
        Placement.person_id == Person.id,
        Placement.position_id.in_(select(Position.id).where(Position.district == "奉节县")))
    works_here = exists().where(
        WorkshopStaff.person_id == Person.id,
        WorkshopStaff.workshop_id.in_(select(Workshop.id).where(Workshop.district == "奉节县")))
    outsider = and_(Person.district == OTHER, ~holds_here, ~works_here)
    far = db.session.execute(select(Person.name, Person.id_masked).where(outsider)).all()
    near = db.session.execute(select(Person.name, Person.id_masked).where(~outsider)).all()
    corpus = [n for n, _ in near]
    for model, cols in ((Official, ("name", "unit", "village", "township")),
                        (Position, ("title", "employer", "village", "township")),
                        (Workshop, ("name", "operator", "village", "township"))):
        for row in db.session.execute(select(*[getattr(model, c) for c in cols])):
            corpus += [x for x in row if x]
    names = select(Wage.account_name).join(Person, Person.id == Wage.person_id).where(~outsider).distinct()
    corpus += [n for (n,) in db.session.execute(names) if n]
    text = "\n".join(corpus)
    near_masks = {m for _, m in near} | set(db.session.scalars(select(Official.id_masked)))
    names = {n for n, _ in far if len(n) >= 2 and n not in text}
    masks = {m for _, m in far if m not in near_masks}
    return names, masks


def _links(page: str) -> list[str]:
    out = []
    for href in re.findall(r'href="([^"]+)"', page):
        href = htmllib.unescape(href)
        if href.startswith("/") and not href.startswith("//") and not href.startswith(SKIP):
            out.append(href.split("#")[0])
    return out


def test_a_district_auditor_never_reads_a_person_of_another_district(app, quick_hashes, tmp_path):
    planted = two_district_demo(app, tmp_path / "county")
    create_users(app)
    names, masks = _outsiders()
    far_idn, far_name = planted["far"]
    assert mask(far_idn) in masks and far_name in names  # the cross-district IM04 case is among them
    assert len(masks) > 50

    # the IM04 finding of the 奉节县 holder of the shared account is on the way
    near_idn, near_name = planted["near"]
    near = db.session.scalars(select(Person)
                              .where(Person.id_masked == mask(near_idn), Person.name == near_name)).one()
    im04 = db.session.scalars(select(Finding)
                              .where(Finding.rule == "IM04", Finding.person_id == near.id)).one()

    client = RequestClient(app)
    wh.login(client, "auditor_fj")
    seen: set[str] = set()
    per_path: dict[str, int] = {}
    plain, queried = deque(["/dashboard/", f"/findings/{im04.id}"]), deque()
    visited, kinds = 0, set()
    leaks: list[str] = []
    while (plain or queried) and visited < CAP:
        url = plain.popleft() if plain else queried.popleft()
        if url in seen:
            continue
        seen.add(url)
        r = client.get(url)
        visited += 1
        assert r.status_code in (200, 302, 303, 404), f"{url} -> {r.status_code}"
        if r.status_code != 200 or not (r.mimetype or "").startswith("text/"):
            continue
        page = r.get_data(as_text=True)
        parts = urlsplit(url).path.strip("/").split("/")
        kinds.add(parts[0] + ("/item" if len(parts) > 1 else ""))
        visible = htmllib.unescape(page)
        leaks += [f"{url}: {m}" for m in masks if m in visible]
        leaks += [f"{url}: {n}" for n in names if n in visible]
        for link in _links(page):
            if link in seen:
                continue
            path = urlsplit(link).path
            if urlsplit(link).query:
                if per_path.get(path, 0) < PER_PATH:
                    per_path[path] = per_path.get(path, 0) + 1
                    queried.append(link)
            else:
                plain.append(link)
    assert not leaks, leaks[:20]
    assert visited >= 100, visited
    # the crawl went through findings, people, posts and workshops
    assert {"findings/item", "persons/item", "positions/item", "workshops/item"} <= kinds, kinds
    assert f"/findings/{im04.id}" in seen
