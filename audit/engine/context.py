"""What a rule's query is built from: the as-of date, dialect-aware date arithmetic, parameters in
force per place and month, and per-run aggregates shared by several rules (temporary tables built
with one set-based statement each)."""
from __future__ import annotations

import datetime as dt
import time
from functools import cached_property
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    Table,
    and_,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import TypeEngine

from audit.ledger import statistics
from models import Attendance, RuleParameter, Wage

from .rule import Rule

WORK_MEM = "64MB"  # PostgreSQL work_mem of an audit run's transaction
TEMP_BUFFERS = "256MB"  # and its temp_buffers (the shared aggregates of a city take about 120 MB)


class RunContext:
    def __init__(self, conn: Connection, as_of: dt.date):
        self.conn = conn
        self.as_of = as_of
        self.sqlite = conn.dialect.name == "sqlite"
        self._present: dict[str, bool] = {}
        self._overrides = _load_overrides(conn, as_of)
        self.used_params: dict[str, dict[str, Any]] = {}
        self.aggregate_seconds: dict[str, float] = {}  # shared temp tables: name -> build time
        self._materialized: list[str] = []  # a rule's own temp tables (``materialize``)
        self.rule: Rule | None = None
        if not self.sqlite:
            # for the run's transaction: JIT compiling cost 0.5-2 s per rule and saved nothing (about
            # 10 s of a 60 s city-wide run); sorts and hashes of a million rows fit in memory
            conn.exec_driver_sql("SET LOCAL jit = off")
            conn.exec_driver_sql(f"SET LOCAL work_mem = '{WORK_MEM}'")
            # the shared aggregates are temporary tables, read through the session's local buffers
            # (8 MB by default: a city's monthly aggregates, 40 MB each, were re-read from disk on every
            # index probe). PostgreSQL refuses the change once the session has used a temporary table
            # (a pooled connection's earlier run): it then keeps the buffers it has.
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql(f"SET LOCAL temp_buffers = '{TEMP_BUFFERS}'")
            except DBAPIError:
                pass
            # statistics of tables changed much since they were last analysed (small uploads add up)
            statistics.refresh(conn, stale_only=True)

    # -- data presence ---------------------------------------------------------------------------

    def has(self, table: str) -> bool:
        if table not in self._present:
            t = _table(table)
            first = self.conn.execute(select(literal(1)).select_from(t).limit(1)).first()
            self._present[table] = first is not None
        return self._present[table]

    # -- dates -----------------------------------------------------------------------------------

    @property
    def as_of_month(self) -> dt.date:
        return self.as_of.replace(day=1)

    def month(self, col):
        """The first day of the month of a date column."""
        if self.sqlite:
            return type_coerce(func.date(col, "start of month"), Date)
        return cast(func.date_trunc("month", col), Date)

    def add_months(self, col, n):
        """A date ``n`` months later; ``n`` an int or an integer SQL expression (a parameter)."""
        if self.sqlite:
            if isinstance(n, int):
                return type_coerce(func.date(col, f"{n:+d} months"), Date)
            return type_coerce(func.date(col, func.printf("%+d months", n)), Date)
        return cast(col + func.make_interval(0, n), Date)

    def add_days(self, col, n: int):
        if self.sqlite:
            return type_coerce(func.date(col, f"{n:+d} days"), Date)
        return cast(col + n, Date)

    def month_end(self, month_col):
        """The last day of the month that starts at ``month_col``."""
        if self.sqlite:
            return type_coerce(func.date(month_col, "+1 month", "-1 day"), Date)
        return cast(month_col + func.make_interval(0, 1) - func.make_interval(0, 0, 0, 1), Date)

    def age(self, birth_col, at_col):
        """Whole years between a birth date and a date."""
        if self.sqlite:
            return (cast(func.strftime("%Y", at_col), Integer) - cast(func.strftime("%Y", birth_col), Integer)
                    - case((func.strftime("%m-%d", at_col) < func.strftime("%m-%d", birth_col), 1), else_=0))
        return cast(func.date_part("year", func.age(at_col, birth_col)), Integer)

    def wage_due(self, monthly_wage_fen, present, required_days):
        """月标准 × min(1, 出勤天数 ÷ 规定天数), rounded half up to the fen, in integer arithmetic."""
        days = case((present < required_days, present), else_=required_days)
        return (monthly_wage_fen * days * 2 + required_days) // (required_days * 2)

    # -- parameters ------------------------------------------------------------------------------

    @property
    def current_rule(self) -> Rule:
        """The rule whose query is being built (the runner sets ``rule`` before it calls the query)."""
        if self.rule is None:
            raise RuntimeError("a rule parameter was asked for outside a rule's query")
        return self.rule

    def param(self, name: str, *, district=None, township=None, month=None, transform=None):
        """The value of the current rule's parameter ``name`` in force for a place and month, as
        a SQL expression: a literal where no override exists, else a CASE over the overrides
        (township before district before everywhere; the latest ``effective_from`` first)."""
        rule = self.current_rule
        default = next(param.default for param in rule.params if param.name == name)
        convert = transform or (lambda x: x)
        overrides = self._overrides.get((rule.code, name), [])
        self.used_params.setdefault(rule.code, {})[name] = default
        if overrides:
            self.used_params[rule.code][f"{name}:overrides"] = [
                {"value": override.value, "from": override.effective_from.isoformat(),
                 "district": override.district, "township": override.township} for override in overrides]
        if not overrides:
            return literal(convert(default))
        whens = []
        most_specific_latest = sorted(overrides, reverse=True, key=lambda override: (
            override.township is not None, override.district is not None, override.effective_from))
        for override in most_specific_latest:
            cond = []
            if override.district is not None:
                cond.append(district == override.district if district is not None else literal(False))
            if override.township is not None:
                cond.append(township == override.township if township is not None else literal(False))
            if month is not None:
                cond.append(month >= override.effective_from)
            elif override.effective_from > self.as_of:
                continue
            whens.append((and_(*cond) if cond else literal(True), literal(convert(override.value))))
        return case(*whens, else_=literal(convert(default))) if whens else literal(convert(default))

    def param_values(self, name: str) -> list:
        """Every value the current rule's parameter can take anywhere (default and overrides): for a
        conservative prefilter, e.g. the smallest threshold in force in any place."""
        rule = self.current_rule
        default = next(param.default for param in rule.params if param.name == name)
        return [default, *(override.value for override in self._overrides.get((rule.code, name), []))]

    def param_value(self, name: str):
        """A parameter's default (for rules whose parameter cannot vary by place, e.g. on/off)."""
        rule = self.current_rule
        value = next(param.default for param in rule.params if param.name == name)
        self.used_params.setdefault(rule.code, {})[name] = value
        return value

    # -- shared aggregates -----------------------------------------------------------------------

    @cached_property
    def attendance_month(self) -> Table:
        """Per person, post and month (days up to the as-of date): days recorded, present days,
        face-recognition check-ins and failed ones. (No rule read the first and last present day it
        also held: their MIN and MAX were a third of the aggregate's time on SQLite.)"""
        attendance = Attendance.__table__
        table = _temp("run_attendance_month", "person_id:i post_id:i month:d days:i present:i face:i "
                      "face_failed:i")
        present = attendance.c.status == "出勤"
        face = attendance.c.method == "人脸识别"
        failed = and_(face, attendance.c.verified == "不通过")
        month = attendance.c.work_month
        query = (select(attendance.c.person_id, attendance.c.post_id, month.label("month"), func.count(),
                        func.sum(case((present, 1), else_=0)), func.sum(case((face, 1), else_=0)),
                        func.sum(case((failed, 1), else_=0)))
                 .where(attendance.c.work_date <= self.as_of)
                 .group_by(attendance.c.person_id, attendance.c.post_id, month))
        # SQLite: the grouping streams along the clustered key (person, post, month, day).
        # PostgreSQL: a parallel scan with partial hash aggregates (7 s for 17 million rows against 12 s
        # walking the primary key, which the planner prefers when left to itself)
        self._fill(table, query, seq_scan=True)
        return table

    @cached_property
    def wages(self) -> Table:
        """The payments as the rules judge them: a reversal (冲正, a negative amount) and the payment
        it reverses are taken out together, both paid up to the as-of date (ledger-format.md,
        "Reversals": the rules judge the net). A reversal takes the earliest payment of the same
        person, post, month and amount (the k-th reversal the k-th payment, by date); one of another
        amount (a partial reversal) stays, as a negative row that nets in every sum. Without any
        reversal this is the wages table itself."""
        wage = Wage.__table__
        if self.conn.execute(select(literal(1)).where(wage.c.amount_fen < 0, wage.c.paid_on <= self.as_of)
                             .limit(1)).first() is None:
            return wage
        started = time.perf_counter()
        same = (wage.c.person_id, wage.c.post_id, wage.c.period)
        size = func.abs(wage.c.amount_fen)
        nth = func.row_number().over(partition_by=(*same, size), order_by=(wage.c.paid_on, wage.c.id))
        paid = wage.c.paid_on <= self.as_of
        numbered = select(wage.c.id, *same, size.label("size"), nth.label("nth"))
        payments = numbered.where(paid, wage.c.amount_fen > 0)
        reversals = numbered.where(paid, wage.c.amount_fen < 0)
        pay, rev = payments.subquery("pay"), reversals.subquery("rev")
        pairs = (select(pay.c.id.label("paid_id"), rev.c.id.label("reversal_id"))
                 .join(rev, and_(rev.c.person_id == pay.c.person_id, rev.c.post_id == pay.c.post_id,
                                 rev.c.period == pay.c.period, rev.c.size == pay.c.size,
                                 rev.c.nth == pay.c.nth))
                 .subquery("pairs"))
        gone = union_all(select(pairs.c.paid_id), select(pairs.c.reversal_id)).subquery("gone")
        table = Table("run_wages", MetaData(), *[Column(c.name, c.type) for c in wage.columns],
                      prefixes=["TEMPORARY"])
        self.conn.exec_driver_sql("DROP TABLE IF EXISTS run_wages")
        table.create(self.conn)
        cols = [c.name for c in wage.columns]
        self.conn.execute(insert(table).from_select(cols, select(*wage.columns).where(
            ~exists().where(gone.c[gone.c.keys()[0]] == wage.c.id))))
        self.conn.exec_driver_sql("CREATE INDEX ix_run_wages ON run_wages (person_id, post_id, period)")
        self._analyze(table.name)
        self.aggregate_seconds[table.name] = time.perf_counter() - started
        return table

    @cached_property
    def wage_month(self) -> Table:
        """Per person, post and period (payments made up to the as-of date, reversals netted as
        ``wages`` says): the sum paid, the number of payments, the first and last payment date."""
        wage = self.wages
        table = _temp("run_wage_month", "person_id:i post_id:i period:d paid_fen:b payments:i "
                      "first_paid_on:d last_paid_on:d")
        query = (select(wage.c.person_id, wage.c.post_id, wage.c.period, func.sum(wage.c.amount_fen),
                        func.count(), func.min(wage.c.paid_on), func.max(wage.c.paid_on))
                 .where(wage.c.paid_on <= self.as_of)
                 .group_by(wage.c.person_id, wage.c.post_id, wage.c.period))
        self._fill(table, query)
        return table

    def materialize(self, name: str, query) -> Table:
        """A temporary table ``name`` holding the rows of ``query`` (its selected columns, no index),
        dropped with the shared aggregates: for a rule that reads the same few rows of a large table
        in several passes, one scan instead of one per pass. Its time counts as the rule's own."""
        table = Table(name, MetaData(), *[Column(c.name, c.type) for c in query.selected_columns],
                      prefixes=["TEMPORARY"])
        self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        table.create(self.conn)
        self.conn.execute(insert(table).from_select([c.name for c in table.columns], query))
        self._analyze(name)
        self._materialized.append(name)
        return table

    def _fill(self, t: Table, q, *, seq_scan: bool = False) -> None:
        """Create the temporary table ``t`` from the rows of ``q`` (its columns in ``t``'s order), with an
        index on its first three columns. PostgreSQL: CREATE TABLE AS, which may scan in parallel
        (INSERT … SELECT never does), then ANALYZE (autovacuum never sees a temporary table, and
        without statistics the planner took a million-row aggregate for a few thousand rows and
        chose nested loops over it). ``seq_scan``: plan the statement without index scans."""
        started = time.perf_counter()
        self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {t.name}")
        if self.sqlite:
            t.create(self.conn)
            self.conn.execute(insert(t).from_select([c.name for c in t.columns], q))
        else:
            sub = q.subquery("q")
            named = select(*[cast(col, column.type).label(column.name)
                             for col, column in zip(sub.c, t.columns, strict=True)])
            sql = named.compile(self.conn)
            if seq_scan:
                self.conn.exec_driver_sql("SET LOCAL enable_indexscan = off")
                self.conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
            self.conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {t.name} AS {sql}", sql.params)
            if seq_scan:
                self.conn.exec_driver_sql("SET LOCAL enable_indexscan TO DEFAULT")
                self.conn.exec_driver_sql("SET LOCAL enable_bitmapscan TO DEFAULT")
        self.conn.exec_driver_sql(f"CREATE INDEX ix_{t.name} ON {t.name} ({t.columns[0].name}, "
                                  f"{t.columns[1].name}, {t.columns[2].name})")
        self._analyze(t.name)
        self.aggregate_seconds[t.name] = time.perf_counter() - started

    def _analyze(self, name: str) -> None:
        if not self.sqlite:
            self.conn.exec_driver_sql(f"ANALYZE {name}")

    def built(self, name: str) -> Table | None:
        """The shared aggregate ``name`` (``attendance_month`` …) if this run has built it."""
        return self.__dict__.get(name)

    def drop_temporaries(self) -> None:
        for name in ("attendance_month", "wage_month", "wages"):
            if name in self.__dict__ and self.__dict__[name] is not Wage.__table__:
                self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.__dict__[name].name}")
        for name in self._materialized:
            self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


_TYPES: dict[str, type[TypeEngine]] = {"i": Integer, "b": BigInteger, "d": Date}


def _temp(name: str, cols: str) -> Table:
    columns = [Column(c.split(":")[0], _TYPES[c.split(":")[1]]()) for c in cols.split()]
    return Table(name, MetaData(), *columns, prefixes=["TEMPORARY"])


def _table(name: str) -> Table:
    from models import Base

    return Base.metadata.tables[name]


def _load_overrides(conn: Connection, as_of: dt.date) -> dict[tuple[str, str], list]:
    """The overrides in force on ``as_of``: one that takes effect later is not yet a parameter of an
    audit (or a replay) as of that date, whatever month it judges."""
    rp = RuleParameter.__table__
    out: dict[tuple[str, str], list] = {}
    for row in conn.execute(select(rp).where(rp.c.effective_from <= as_of)):
        out.setdefault((row.rule, row.name), []).append(row)
    return out
