"""P4 (issue 13): right-to-left overrides and other invisible control characters (Unicode Cc, Cf)
are removed from every text cell of an imported ledger, and the preview says which rows had them;
the same for free text typed into the web forms."""
from __future__ import annotations

import re
import sys
import unicodedata

from sqlalchemy import select

from audit.ledger.importer import import_bundle
from models import ChangeLog, Finding, Person, Position, Post, db

from helpers import base_tables, write_bundle
from web_helpers import login, post, upload_zip, zip_folder

RLO, LRI, PDI, ZWSP, LRM, ALM = "\u202e", "\u2066", "\u2069", "\u200b", "\u200e", "\u061c"
INVISIBLE = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in ("Cc", "Cf")]


def visible(s: str) -> bool:
    return not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in s)


def tainted(people):
    tables = base_tables(people)
    tables["persons"][1]["name"] = f"李{RLO}小花{PDI}"  # row 3
    tables["persons"][2]["village"] = f"{LRI}桂井社区{ZWSP}"  # row 4
    tables["persons"][2]["id_number"] = f"{LRM}{tables['persons'][2]['id_number']}{ALM}"
    tables["positions"][0]["employer"] = "白帝村\x01村民委员会\x7f"  # row 2
    tables["positions"][1]["title"] = "护林员\ufeff"  # row 3
    return tables


def test_controls_are_removed_from_cells_and_reported_by_row(app, people, tmp_path):
    result = import_bundle(write_bundle(tmp_path / "b", tainted(people)), engine=db.engine,
                           pii=app.extensions["pii"], actor="tester")
    assert result.ok, [str(e) for e in result.errors]
    assert "人员信息(persons) 第 3、4 行：已删除不可见的控制字符" in result.warnings
    assert "公益性岗位(positions) 第 2、3 行：已删除不可见的控制字符" in result.warnings
    assert not any("placements" in w or "attendance" in w for w in result.warnings)
    names = set(db.session.scalars(select(Person.name)))
    assert "李小花" in names and all(visible(n) for n in names)
    assert "桂井社区" in set(db.session.scalars(select(Person.village)))
    employers = set(db.session.scalars(select(Position.employer)))
    assert employers == {"白帝村村民委员会"}
    title = db.session.scalar(select(Position.title).join(Post, Post.id == Position.id)
                              .where(Post.code == "GW-002"))
    assert title == "护林员"


def test_every_control_and_format_character_goes(app, people, tmp_path):
    tables = base_tables(people)
    tables["persons"][0]["name"] = "王" + "".join(c for c in INVISIBLE if c not in "\r\n\t\x00") + "大山"
    tables["persons"][1]["name"] = "李\t小花"  # a tab between words: one space
    result = import_bundle(write_bundle(tmp_path / "b", tables), engine=db.engine,
                           pii=app.extensions["pii"], actor="tester")
    assert result.ok, [str(e) for e in result.errors]
    assert "人员信息(persons) 第 2、3 行：已删除不可见的控制字符" in result.warnings
    assert set(db.session.scalars(select(Person.name))) >= {"王大山", "李 小花"}


def test_a_cell_of_controls_only_is_an_empty_cell(app, people, tmp_path):
    tables = base_tables(people)
    tables["persons"][0]["name"] = RLO + ZWSP
    result = import_bundle(write_bundle(tmp_path / "b", tables), engine=db.engine,
                           pii=app.extensions["pii"], actor="tester")
    assert [(e.row, e.reason) for e in result.errors if e.table == "persons"] == [(2, "必填项为空")]


def test_the_upload_preview_names_the_rows(client, web, people, tmp_path):
    folder = write_bundle(tmp_path / "台账", tainted(people))
    data = zip_folder(folder)
    login(client, "auditor_fj")
    job = upload_zip(client, data, "b.zip")
    html = client.get(f"/uploads/{job}").get_data(as_text=True)
    assert "第 3、4 行：已删除不可见的控制字符" in html
    assert RLO not in html and LRI not in html


def test_a_reason_typed_in_a_form_is_stored_without_controls(web, client):
    f = web.finding("奉节县", "PS02")
    login(client, "auditor_fj")
    note = f"该月为病假{RLO}，已补交请假条{LRI}\x00"
    r = post(client, f"/findings/{f.id}/review", {"action": "dismiss", "note": note})
    assert r.status_code == 303
    db.session.rollback()
    stored = db.session.get(Finding, f.id).review_note
    assert stored == "该月为病假，已补交请假条"
    page = client.get(f"/findings/{f.id}").get_data(as_text=True)
    assert "该月为病假，已补交请假条" in page and RLO not in page
    # line breaks of a typed text stay
    f.review_note = "第一行\n第二行\u2067"
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Finding, f.id).review_note == "第一行\n第二行"
    assert not any(RLO in str(e.new) for e in db.session.scalars(select(ChangeLog)))


def test_no_control_survives_in_a_warning(app, people, tmp_path):
    tables = base_tables(people)
    tables["persons"][0][f"备{RLO}注"] = "x"  # an unknown column: its header is quoted in a warning
    result = import_bundle(write_bundle(tmp_path / "b", tables), engine=db.engine,
                           pii=app.extensions["pii"], actor="tester")
    assert any(re.search("列「备注」无法识别", w) for w in result.warnings), result.warnings
