"""Steps 2 and 3 of the import: duplicate keys found in SQL on the stage tables, then the
set-based merges into the target tables (new keys inserted, changed rows updated and written to the
change log with old and new values masked, identical rows left alone) and the deletions a
``replaces`` row asks for. ``Merging`` is the part of ``importer.Importer`` that does it."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import (
    Connection,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from audit import vocab
from audit.money import yuan
from models import (
    Attendance,
    Business,
    Death,
    Household,
    MigrantWork,
    Official,
    Pension,
    Person,
    Placement,
    Position,
    Post,
    Report,
    SocialInsurance,
    Wage,
    Workshop,
    WorkshopStaff,
)

from . import replaces
from . import values as v
from .outcome import TableCounts
from .schema import BY_NAME, TableSpec
from .stages import HELD_IN, STAGE_KEYS, STAGES, Merge

CHANGES_SHOWN = 200  # changed rows per table described field by field in the result
TWINS_SHOWN = 100  # wage rows identical to an earlier one, each named in a warning


class Merging:
    """Steps 2 and 3 of ``importer.Importer``."""

    # -- 2. duplicate keys ----------------------------------------------------------------------

    def _duplicates(self, conn: Connection, spec: TableSpec) -> None:
        """Report every row whose key an earlier row of the same table already has, and drop it."""
        s = STAGES[spec.name]
        key = [s.c[k] for k in STAGE_KEYS[spec.name]]
        first = (select(*key, func.min(s.c.row_no).label("first"))
                 .group_by(*key).having(func.count() > 1).subquery())
        later = (select(s.c.row_no, first.c.first)
                 .join(first, and_(*[k == first.c[k.name] for k in key])).where(s.c.row_no != first.c.first))
        names = "、".join(spec.col(k).zh for k in spec.key)
        said = later.order_by(s.c.row_no)
        if self.limits.max_errors > 0:  # past that many the check stops (``_error``): fetch no more
            said = said.limit(self.limits.max_errors)
        rows = conn.execute(said).all()
        for row_no, first_row in rows:
            self._error(spec.name, row_no, names, "", f"与第{first_row}行的{names}相同（重复记录）")
        if rows:
            # set-based (a list of row numbers would exceed the bind limit, 65535 on PostgreSQL), and
            # against each key's first row only: "an earlier row with the same key" as a correlated
            # EXISTS compares every pair of copies, hours for a file of 100,000 copies of one row
            repeated = select(later.subquery().c.row_no)
            conn.execute(s.delete().where(s.c.row_no.in_(repeated)))

    def _number_wages(self, conn: Connection) -> None:
        """Number the copies of one wage key (person, post, month, paid on, amount) 1, 2, … in row
        order, so that re-importing the bundle changes nothing; warn about rows identical in every
        column (both are kept: the audit checks them as paid twice). In SQL, on the stage table."""
        s = STAGES["wages"]
        key = [s.c[k] for k in ("person_id", "post_id", "period", "paid_on", "amount_fen")]
        n = (select(s.c.row_no, func.row_number().over(partition_by=key, order_by=s.c.row_no).label("n"))
             .subquery())
        again = conn.execute(update(s).where(s.c.row_no == n.c.row_no, n.c.n > 1).values(seq=n.c.n),
                             execution_options={"preserve_rowcount": True}).rowcount
        if not again:
            return
        e = s.alias("earlier")
        twins = (select(s.c.row_no, func.min(e.c.row_no))
                 .join(e, and_(*[e.c[k.name] == k for k in key], e.c.row_no < s.c.row_no,
                               *[e.c[c].is_not_distinct_from(s.c[c]) for c in ("account_hash", "account_name",
                                                                                 "batch")]))
                 .where(s.c.seq > 1).group_by(s.c.row_no).order_by(s.c.row_no))
        label, shown = BY_NAME["wages"].label, 0
        for row_no, twin in conn.execute(twins):
            if shown < TWINS_SHOWN:
                self.result.warnings.append(f"{label} 第{row_no}行与第{twin}行完全相同：两行都已保留，"
                                            "审计时将按重复发放核查")
            shown += 1
        if shown > TWINS_SHOWN:
            self.result.warnings.append(f"{label} 另有 {shown - TWINS_SHOWN:,} 行与前面的某一行完全相同："
                                        "都已保留，审计时将按重复发放核查")

    # -- 3. merges ------------------------------------------------------------------------------

    def _merge(self, conn: Connection, table: str, src, m: Merge) -> None:
        counts = self.result.counts[table]
        t = m.target
        s = src.subquery("src")
        on = and_(*[t.c[k] == s.c[k] for k in m.key])
        # rows are updated by surrogate id where the table has one, else by their key
        where = ("id",) if "id" in t.c else m.key
        changed = conn.execute(
            select(*[t.c[k].label(f"_{k}") for k in where],
                   *[t.c[c].label(f"old_{c}") for c in m.compare + m.carry], *s.c)
            .join(s, on).where(or_(*[t.c[c].is_distinct_from(s.c[c]) for c in m.compare]))
        ).mappings().all()
        if changed:
            cols = m.compare + m.carry
            conn.execute(update(t).where(*[t.c[k] == bindparam(f"_{k}") for k in where])
                         .values({c: bindparam(f"v_{c}") for c in cols}),
                         [{**{f"_{k}": r[f"_{k}"] for k in where}, **{f"v_{c}": r[c] for c in cols}}
                          for r in changed])
            self._log_changes(conn, table, m, changed)
        # (a ColumnCollection iterates its columns, not their names)
        cols = [c for c in s.c.keys() if c in t.c and (c != "id" or "id" in m.key)]  # noqa: SIM118
        counts.added = conn.execute(insert(t).from_select(cols, select(*[s.c[c] for c in cols])
                                                          .where(~exists().where(on))),
                                    execution_options={"preserve_rowcount": True}).rowcount
        counts.changed = len(changed)
        counts.unchanged = counts.rows - counts.added - counts.changed

    def _log_changes(self, conn: Connection, table: str, m: Merge, changed) -> None:
        now = dt.datetime.now()
        households: dict[int, str] = {}
        if "household_id" in m.compare:
            ids = {r[k] for r in changed for k in ("household_id", "old_household_id") if r[k] is not None}
            hh = Household.__table__
            households = dict(conn.execute(select(hh.c.id, hh.c.code).where(hh.c.id.in_(ids))).all())
        shown = []
        for r in changed:
            old, new = {}, {}
            fields = []
            for c in m.compare:
                if r[f"old_{c}"] != r[c]:
                    label, o, n = _display(c, r, households)
                    old[label], new[label] = o, n
                    if len(shown) < CHANGES_SHOWN:
                        fields.append([_field_zh(table, c), _shown_value(table, c, r, o),
                                       _shown_value(table, c, r, n)])
            self._log.append({"at": now, "actor": self.actor, "action": "import.update", "table_name": table,
                              "row_id": r.get("_id"), "row_ref": m.ref(r), "old": old, "new": new})
            if len(shown) < CHANGES_SHOWN:
                shown.append({"ref": self._preview_ref(table, r), "fields": fields})
        self.result.changes[table] = {"rows": shown, "more": len(changed) - len(shown)}

    def _who(self, person_id) -> str:
        """A person as people read them: name and masked ID number."""
        name, masked = self._people_names.get(person_id), self._people_masked.get(person_id, "")
        return f"{name}（{masked}）" if name else str(masked or person_id)

    def _preview_ref(self, table: str, r: Mapping) -> str:
        """The changed row as the preview names it: person by name and masked ID, post by code (and
        title or name), then the rest of its key; never an ID or account number in clear."""
        if table == "persons":
            return f"{r['name']}（{r['id_masked']}）"
        if table in ("positions", "workshops"):
            code = self._post_codes.get(r["id"], str(r["id"]))
            return f"{code} {r['title'] if table == 'positions' else r['name']}"
        if table == "officials":
            return f"{r['name']}（{r['id_masked']}） / {r['role']}"
        if "id_masked" in r:  # the other comparison lists: their people need not be in persons
            key = STAGE_KEYS[table]
            return " / ".join([r["id_masked"], *(_plain_text(r[k]) for k in key[1:])])
        parts = []
        for c in ("person_id", "post_id", "position_id", "workshop_id", "work_date", "period", "paid_on",
                  "start_date", "metric"):
            if c not in r:
                continue
            x = r[c]
            if c == "person_id":
                parts.append(self._who(x))
            elif c in ("post_id", "position_id", "workshop_id"):
                parts.append(self._post_codes.get(x, str(x)))
            elif c == "period":
                parts.append(_plain_text(x)[:7])
            else:
                parts.append(_plain_text(x))
        return " / ".join(parts)

    def _ref(self, r: Mapping, *cols: str) -> str:
        """person / post / other columns of a changed row, readable and masked."""
        parts = []
        for c in cols:
            x = r[c]
            if c == "person_id":
                x = self._people_masked.get(x, x)
            elif c in ("post_id", "position_id", "workshop_id"):
                x = self._post_codes.get(x, x)
            parts.append(x.isoformat() if isinstance(x, dt.date) else str(x))
        return " / ".join(parts)

    def _stage_src(self, name: str):
        s = STAGES[name]
        return select(*[c for c in s.c if c.name != "row_no"])

    def _merge_persons(self, conn: Connection) -> None:
        s = STAGES["persons"]
        self._insert_households(conn, s)
        hh = Household.__table__
        src = (select(*[c for c in s.c if c.name not in ("row_no", "household_code", "category_mask")],
                      func.coalesce(s.c.category_mask, 0).label("category_mask"),  # empty: none recorded
                      hh.c.id.label("household_id")).outerjoin(hh, hh.c.code == s.c.household_code))
        self._merge(conn, "persons", src, Merge(
            Person.__table__, key=("id_hash",),
            compare=("name", "phone", "household_id", "district", "township", "village", "category_mask",
                     "labour_ability", "bank_hash"),
            carry=("name_key", "bank_enc", "bank_masked"), ref=lambda r: f"{r['id_masked']} {r['name']}"))
        self._people = None  # reload on next use

    def _insert_households(self, conn: Connection, s: Table) -> None:
        hh = Household.__table__
        codes = (select(s.c.household_code).where(s.c.household_code.is_not(None))
                 .where(~exists().where(hh.c.code == s.c.household_code)).distinct())
        conn.execute(insert(hh).from_select(["code"], codes))

    def _merge_posts(self, conn: Connection, name: str, kind: str, compare: tuple[str, ...], target) -> None:
        """Positions and workshops share one code space (posts); a code in both is an error."""
        s, posts = STAGES[name], Post.__table__
        clash = (select(s.c.row_no, s.c.code).join(posts, posts.c.code == s.c.code)
                 .where(posts.c.kind != kind).order_by(s.c.row_no))
        for row_no, code in conn.execute(clash):
            other = "公益性岗位编号" if kind == "workshop" else "就业帮扶车间编号"
            self._error(name, row_no, BY_NAME[name].columns[0].zh, code,
                        f"与已有的{other}相同：岗位编号和车间编号不能重复")
        conn.execute(insert(posts).from_select(
            ["code", "kind"],
            select(s.c.code, literal(kind)).where(~exists().where(posts.c.code == s.c.code))))
        src = (select(posts.c.id, *[c for c in s.c if c.name not in ("row_no", "code")])
               .join(posts, and_(posts.c.code == s.c.code, posts.c.kind == kind)))
        self._merge(conn, name, src, Merge(target.__table__, key=("id",), compare=compare,
                                           ref=lambda r: self._post_codes.get(r["id"], str(r["id"]))))
        self._posts = None

    def _merge_positions(self, conn: Connection) -> None:
        s = STAGES["positions"]  # an empty 月出勤天数 is the contract's default (the column is NOT NULL)
        conn.execute(update(s).where(s.c.required_days.is_(None))
                     .values(required_days=Position.__table__.c.required_days.default.arg))
        self._load_post_codes(conn)
        self._merge_posts(conn, "positions", "position", ("title", "kind", "employer", "district", "township",
                                                          "village", "monthly_wage_fen", "required_days",
                                                          "created_on"), Position)

    def _merge_workshops(self, conn: Connection) -> None:
        self._load_post_codes(conn)
        self._merge_posts(conn, "workshops", "workshop", ("name", "operator", "credit_code", "district",
                                                          "township", "village", "certified_on",
                                                          "baseline_poverty_headcount"), Workshop)

    def _load_post_codes(self, conn: Connection) -> None:
        posts = Post.__table__
        self._post_codes = dict(conn.execute(select(posts.c.id, posts.c.code)).all())

    def _merge_placements(self, conn: Connection) -> None:
        self._merge(conn, "placements", self._stage_src("placements"), Merge(
            Placement.__table__, key=("person_id", "position_id", "start_date"), compare=("end_date",),
            ref=lambda r: self._ref(r, "person_id", "position_id", "start_date")))

    def _merge_workshop_staff(self, conn: Connection) -> None:
        self._merge(conn, "workshop_staff", self._stage_src("workshop_staff"), Merge(
            WorkshopStaff.__table__, key=("workshop_id", "person_id", "start_date"),
            compare=("end_date", "monthly_wage_fen"),
            ref=lambda r: self._ref(r, "person_id", "workshop_id", "start_date")))

    def _merge_attendance(self, conn: Connection, name: str = "attendance") -> None:
        self._merge(conn, name, self._stage_src(name), Merge(
            Attendance.__table__, key=("person_id", "post_id", "work_month", "work_date"),
            compare=("status", "check_in_time", "method", "device_id", "verified"),
            ref=lambda r: self._ref(r, "person_id", "post_id", "work_date")))

    def _merge_wages(self, conn: Connection) -> None:
        self._number_wages(conn)
        self._merge(conn, "wages", self._stage_src("wages"), Merge(
            Wage.__table__, key=("person_id", "post_id", "period", "paid_on", "amount_fen", "seq"),
            compare=("account_hash", "account_name", "batch"),
            carry=("account_name_key", "account_enc", "account_masked"),
            ref=lambda r: self._ref(r, "person_id", "post_id", "period", "paid_on")))
        self._check_reversals(conn)

    def _check_reversals(self, conn: Connection) -> None:
        """A negative amount reverses (冲正) an earlier payment of the same person, post and month:
        one of at least that amount, paid on or before it, with the month's net not below zero
        (ledger-format.md, "Reversals"). One with nothing to reverse is a row error."""
        s, w = STAGES["wages"], Wage.__table__
        same = and_(w.c.person_id == s.c.person_id, w.c.post_id == s.c.post_id, w.c.period == s.c.period)
        reversible = exists().where(same, w.c.amount_fen >= -s.c.amount_fen, w.c.paid_on <= s.c.paid_on)
        net = select(func.sum(w.c.amount_fen)).where(same).scalar_subquery()
        bad = conn.execute(select(s.c.row_no, s.c.amount_fen)
                           .where(s.c.amount_fen < 0, or_(~reversible, net < 0))
                           .order_by(s.c.row_no)).all()
        for row_no, fen in bad:
            self._error("wages", row_no, "发放金额", yuan(fen, grouping=False),
                        "冲正（负数金额）找不到被冲减的发放：同一身份证号、岗位编号和所属月份，在此发放日期或之前没有"
                        "不少于该金额的发放（或冲正后该月合计为负）。冲正行的身份证号、岗位编号和所属月份应与原发放相同")

    def _merge_reports(self, conn: Connection) -> None:
        self._merge(conn, "reports", self._stage_src("reports"), Merge(
            Report.__table__, key=("workshop_id", "period", "metric"), compare=("value_x100",),
            ref=lambda r: self._ref(r, "workshop_id", "period", "metric")))

    def _merge_comparison(self, conn: Connection, name: str, model, compare: tuple[str, ...]) -> None:
        key = STAGE_KEYS[name]
        self._merge(conn, name, self._stage_src(name), Merge(
            model.__table__, key=key, compare=compare,
            ref=lambda r: " / ".join([r["id_masked"], *(str(r[k]) for k in key[1:])])))

    def _merge_deaths(self, conn: Connection) -> None:
        self._merge_comparison(conn, "deaths", Death, ("death_date",))

    def _merge_social_insurance(self, conn: Connection) -> None:
        self._merge_comparison(conn, "social_insurance", SocialInsurance, ("employer_credit_code",))

    def _merge_pensions(self, conn: Connection) -> None:
        self._merge_comparison(conn, "pensions", Pension, ("since",))

    def _merge_businesses(self, conn: Connection) -> None:
        self._merge_comparison(conn, "businesses", Business, ("registered_on", "deregistered_on"))

    def _merge_attendance_grid(self, conn: Connection) -> None:
        """A day given both in the bundle's 考勤记录 and in its 考勤表 is an error (which to keep?)."""
        g, a = STAGES["attendance_grid"], STAGES["attendance"]
        both = (select(g.c.row_no, a.c.row_no.label("other"), g.c.work_date)
                .join(a, and_(a.c.person_id == g.c.person_id, a.c.post_id == g.c.post_id,
                              a.c.work_month == g.c.work_month, a.c.work_date == g.c.work_date))
                .order_by(g.c.row_no, g.c.work_date))
        for row_no, other, day in conn.execute(both):
            day = v.date(day) if isinstance(day, str) else day
            self._error("attendance_grid", row_no, f"{day.day}日", "",
                        f"{day.isoformat()} 的考勤在考勤记录表第{other}行也有："
                        "同一天只能在一张表中填写，请删去其中一处")
        if not self.result.errors:
            self._merge_attendance(conn, "attendance_grid")

    def _merge_replaces(self, conn: Connection) -> None:
        """Delete what each ``replaces`` row covers and the bundle does not hold (see replaces.py)."""
        stage = STAGES["replaces"]
        spec = BY_NAME["replaces"]
        rows = [{**r, "table": r["table_name"]}
                for r in conn.execute(select(stage).order_by(stage.c.row_no)).mappings()]
        for r in rows:
            hit = replaces.problem(r)
            if hit:
                self._error("replaces", r["row_no"], spec.col(hit[0]).zh, "", hit[1])
        if self.result.errors:
            return
        self._load_post_codes(conn)
        self._person_id_map(conn)
        now = dt.datetime.now()
        for r in rows:
            table = r["table"]
            held = HELD_IN.get(table, (table,))  # the bundle's tables whose rows are stored in ``table``
            if any(name in self._direct for name in held):
                continue  # loaded into an empty table: every stored row is the bundle's
            gone = conn.execute(replaces.doomed(conn, r, *(STAGES[name] for name in held))).mappings().all()
            if not gone:
                continue
            replaces.delete_rows(conn, table, gone)
            counts = self.result.counts.setdefault(table, TableCounts())
            counts.deleted += len(gone)
            listed = self.result.deleted.setdefault(table, {"rows": [], "more": 0})
            for g in gone:
                old = replaces.old_values(table, g, self._people_masked, self._post_codes)
                self._log.append({"at": now, "actor": self.actor, "action": "import.delete",
                                  "table_name": table, "row_id": g.get("id"),
                                  "row_ref": self._preview_ref(table, g)[:200], "old": old,
                                  "new": {"replaces_row": r["row_no"]}})
                if len(listed["rows"]) < replaces.SHOWN:
                    listed["rows"].append({"ref": self._preview_ref(table, g),
                                           "fields": [[_field_zh(table, k), str(x)] for k, x in old.items()]})
                else:
                    listed["more"] += 1
        self.result.counts["replaces"].unchanged = self.result.counts["replaces"].rows

    def _merge_migrant_work(self, conn: Connection) -> None:
        self._merge_comparison(conn, "migrant_work", MigrantWork, ("end_date", "place"))

    def _merge_officials(self, conn: Connection) -> None:
        s = STAGES["officials"]
        self._insert_households(conn, s)
        hh = Household.__table__
        src = (select(*[c for c in s.c if c.name not in ("row_no", "household_code")],
                      hh.c.id.label("household_id")).outerjoin(hh, hh.c.code == s.c.household_code))
        self._merge(conn, "officials", src, Merge(
            Official.__table__, key=("id_hash", "role"),
            compare=("name", "unit", "district", "township", "village", "household_id"),
            ref=lambda r: f"{r['id_masked']} / {r['role']}"))


def _display(column: str, r: Mapping, households: dict[int, str]) -> tuple[str, object, object]:
    """(label, old, new) of a changed column for the change log; never an ID or account number."""
    old, new = r[f"old_{column}"], r[column]
    if column.endswith("_hash"):
        masked = column.replace("_hash", "_masked")
        return masked, r[f"old_{masked}"], r[masked]
    if column == "household_id":
        return "household", households.get(old), households.get(new)
    if column.endswith("_fen") or column == "value_x100":
        return (column.rsplit("_", 1)[0], yuan(old, grouping=False, none=None),
                yuan(new, grouping=False, none=None))
    if column == "category_mask":
        return "categories", ";".join(vocab.categories_of(old or 0)), ";".join(vocab.categories_of(new or 0))
    return column, _plain(old), _plain(new)


def _plain(x):
    return x.isoformat() if isinstance(x, (dt.date, dt.time)) else x


def _plain_text(x) -> str:
    return x.isoformat() if isinstance(x, (dt.date, dt.time)) else str(x)


# stored columns that are not named as the bundle's columns
_FIELD_KEYS = {"category_mask": "categories", "bank_hash": "bank_account", "account_hash": "account_number",
               "monthly_wage_fen": "monthly_wage", "value_x100": "value"}


def _field_zh(table: str, column: str) -> str:
    """A stored column by its header in the bundle (月补贴标准, 银行账号 …)."""
    key = _FIELD_KEYS.get(column, column)
    spec = BY_NAME.get(table)
    col = next((c for c in spec.columns if c.key == key), None) if spec else None
    return col.zh if col else key


def _shown_value(table: str, column: str, r: Mapping, x) -> str:
    """A value of a changed column as the preview shows it (``_display`` already masked it):
    money in yuan, empty as （空）."""
    if x is None or x == "":
        return "（空）"
    if column.endswith("_fen"):
        return f"{x} 元"
    if column == "value_x100":
        if r.get("metric") in vocab.MONEY_METRICS:
            return f"{x} 元"
        return x[:-3] if isinstance(x, str) and x.endswith(".00") else str(x)
    return str(x)

