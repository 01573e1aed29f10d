"""Test data: synthetic ID numbers, bundles written as CSV, database snapshots."""
from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

from sqlalchemy import func, inspect, select, text

from audit.demo.generator import make_id_number
from audit.ledger.importer import import_bundle
from models import db

# the PII key of the test apps (tests/conftest.py) and of the commands they run in subprocesses
TEST_PII_KEY = "test-only-pii-key-0123456789-abcdefghijklmnopqrstuvwxyz"


class People:
    """Valid, synthetic ID numbers (GB 11643 check characters), reproducible per test."""

    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        self.issued: set[str] = set()

    def id(self, born: str = "1980-05-06", male: bool = True, region: str = "500236") -> str:
        while True:
            number = make_id_number(self.rng, region, dt.date.fromisoformat(born), male)
            if number not in self.issued:
                self.issued.add(number)
                return number


def write_bundle(folder: Path, tables: dict[str, list[dict]], encoding: str = "utf-8") -> Path:
    """Write ``{table: [row dicts]}`` as CSV files (headers: every key of any row)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        headers = list(dict.fromkeys(k for r in rows for k in r))  # every column any row has, in order
        with open(folder / f"{name}.csv", "w", newline="", encoding=encoding) as fh:
            w = csv.writer(fh)
            w.writerow(headers)
            for r in rows:
                w.writerow([r.get(h, "") for h in headers])
    return folder


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of every table, to compare a database before and after."""
    out = {}
    with engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            rows = conn.execute(text(f"SELECT * FROM {name}")).all()
            out[name] = sorted(tuple(map(repr, r)) for r in rows)
    return out


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def base_tables(people: People) -> dict[str, list[dict]]:
    """A small, valid bundle: three people, two public posts, one workshop, a few days of work."""
    a, b, c = people.id("1975-03-02", True), people.id("1982-11-30", False), people.id("1990-07-15", True)
    return {
        "persons": [
            {"id_number": a, "name": "王大山", "household_id": "H001", "district": "奉节县",
             "township": "白帝镇",
             "village": "白帝村", "categories": "脱贫人口", "labour_ability": "普通劳动力",
             "bank_account": "6228480000000000011"},
            {"id_number": b, "name": "李小花", "household_id": "H002", "district": "奉节县",
             "township": "白帝镇",
             "village": "白帝村", "categories": "防止返贫监测对象;残疾人", "labour_ability": "弱劳动力",
             "bank_account": "6228480000000000022"},
            {"id_number": c, "name": "张三", "household_id": "H003", "district": "奉节县",
             "township": "永安街道",
             "village": "桂井社区", "categories": "脱贫人口", "labour_ability": "普通劳动力",
             "bank_account": "6228480000000000033"},
        ],
        "positions": [
            {"position_code": "GW-001", "title": "保洁员", "kind": "乡村公益性岗位",
             "employer": "白帝村村民委员会",
             "district": "奉节县", "township": "白帝镇", "village": "白帝村", "monthly_wage": "800.00",
             "required_days": "20"},
            {"position_code": "GW-002", "title": "护林员", "kind": "乡村公益性岗位",
             "employer": "白帝村村民委员会",
             "district": "奉节县", "township": "白帝镇", "village": "白帝村", "monthly_wage": "900",
             "required_days": "20"},
        ],
        "placements": [
            {"id_number": a, "position_code": "GW-001", "start_date": "2025-01-01", "end_date": ""},
            {"id_number": b, "position_code": "GW-002", "start_date": "2025-01-01", "end_date": ""},
        ],
        "workshops": [
            {"workshop_code": "CJ-01", "name": "白帝镇服装加工帮扶车间", "operator": "奉节县白帝服饰有限公司",
             "district": "奉节县", "township": "白帝镇", "baseline_poverty_headcount": "1"},
        ],
        "workshop_staff": [
            {"workshop_code": "CJ-01", "id_number": c, "start_date": "2024-10-01", "monthly_wage": "2500.00"},
        ],
        "attendance": [
            {"id_number": a, "post_code": "GW-001", "work_date": "2025-01-02", "status": "出勤",
             "check_in_time": "08:01", "method": "人脸识别", "device_id": "KQJ-01", "verified": "通过"},
            {"id_number": a, "post_code": "GW-001", "work_date": "2025-01-03", "status": "请假"},
            {"id_number": b, "post_code": "GW-002", "work_date": "2025-01-02", "status": "出勤",
             "check_in_time": "07:55", "method": "小程序定位", "device_id": "13800000002"},
            {"id_number": c, "post_code": "CJ-01", "work_date": "2025-01-02", "status": "出勤",
             "check_in_time": "08:30", "method": "指纹", "device_id": "ZW-CJ01"},
        ],
        "wages": [
            {"id_number": a, "post_code": "GW-001", "period": "2025-01", "amount": "800.00",
             "paid_on": "2025-02-10", "account_number": "6228480000000000011", "account_name": "王大山",
             "batch": "2025-01-1"},
            {"id_number": c, "post_code": "CJ-01", "period": "2025-01", "amount": "2500.00",
             "paid_on": "2025-02-12", "account_number": "6228480000000000033", "account_name": "张三"},
        ],
        "reports": [
            {"subject_code": "CJ-01", "period": "2025-01", "metric": "total_headcount", "value": "1"},
            {"subject_code": "CJ-01", "period": "2025-01", "metric": "wages_total", "value": "2500.00"},
        ],
        "deaths": [{"id_number": people.id("1940-01-01", False), "death_date": "2025-03-01"}],
        "officials": [{"id_number": people.id("1970-02-02", True), "name": "赵书记", "role": "村党组织书记",
                       "unit": "白帝村党支部", "district": "奉节县", "township": "白帝镇",
                       "village": "白帝村", "household_id": "H900"}],
    }


# ---- a small county for rule tests -------------------------------------------------------------

def _month_days(month: str) -> list[dt.date]:
    y, m = map(int, month.split("-"))
    d = dt.date(y, m, 1)
    out = []
    while d.month == m:
        out.append(d)
        d += dt.timedelta(days=1)
    return out


def _next_month(month: str) -> str:
    y, m = map(int, month.split("-"))
    return f"{y + (m == 12):04d}-{m % 12 + 1:02d}"


class County:
    """Builds a clean little county, person by person and month by month; a rule test then plants
    one irregularity (and one look-alike that must not fire) and runs the audit.

        c = County(people)
        a = c.person("王大山")
        c.position("GW-1", wage="800.00")
        c.place(a, "GW-1", "2025-01-01")
        c.work(a, "GW-1", "2025-01")          # 20 present weekdays, the rest 休息
        c.pay(a, "GW-1", "2025-01")           # the wage due, on the 10th of the next month
        findings = c.audit(app, tmp_path, as_of="2025-06-30")
    """

    def __init__(self, people: People):
        self.people = people
        self.t: dict[str, list[dict]] = {k: [] for k in (
            "persons", "positions", "placements", "workshops", "workshop_staff", "attendance", "wages",
            "reports", "deaths", "social_insurance", "pensions", "businesses", "officials", "migrant_work")}
        self.names: dict[str, str] = {}
        self.accounts: dict[str, str] = {}
        self.wage_of: dict[str, int] = {}  # post -> monthly wage in fen
        self.required: dict[str, int] = {}
        self._acct = 6228480000000000000

    # -- people and posts --
    def person(self, name: str, born: str = "1980-05-06", male: bool = True, *, categories: str = "脱贫人口",
               household: str | None = None, labour_ability: str = "普通劳动力", township: str = "白帝镇",
               village: str = "白帝村") -> str:
        idn = self.people.id(born, male)
        self._acct += 7
        account = str(self._acct)
        self.names[idn], self.accounts[idn] = name, account
        self.t["persons"].append({
            "id_number": idn, "name": name, "household_id": household or f"H{len(self.t['persons']) + 1:04d}",
            "district": "奉节县", "township": township, "village": village, "categories": categories,
            "labour_ability": labour_ability, "bank_account": account})
        return idn

    def position(self, code: str, *, kind: str = "乡村公益性岗位", wage: str = "800.00",
                 required_days: int = 20,
                 employer: str = "白帝村村民委员会", township: str = "白帝镇", title: str = "保洁员") -> str:
        self.t["positions"].append({
            "position_code": code, "title": title, "kind": kind, "employer": employer, "district": "奉节县",
            "township": township, "village": "白帝村", "monthly_wage": wage,
                                    "required_days": str(required_days)})
        self.wage_of[code] = round(float(wage) * 100)
        self.required[code] = required_days
        return code

    def place(self, idn: str, code: str, start: str, end: str = "") -> None:
        self.t["placements"].append({"id_number": idn, "position_code": code, "start_date": start,
                                     "end_date": end})

    def workshop(self, code: str, *, operator: str = "奉节县白帝服饰有限公司", baseline: int | None = None,
                 credit_code: str = "") -> str:
        self.t["workshops"].append({
            "workshop_code": code, "name": f"{code}帮扶车间", "operator": operator,
                                    "credit_code": credit_code,
            "district": "奉节县", "township": "白帝镇", "village": "白帝村",
            "baseline_poverty_headcount": "" if baseline is None else str(baseline)})
        return code

    def staff(self, code: str, idn: str, start: str, end: str = "", wage: str = "2500.00") -> None:
        self.t["workshop_staff"].append({"workshop_code": code, "id_number": idn, "start_date": start,
                                         "end_date": end, "monthly_wage": wage})
        self.wage_of[code] = round(float(wage) * 100)
        self.required[code] = 20

    # -- months --
    def work(self, idn: str, post: str, month: str, present: int | None = None, *, method: str = "人脸识别",
             device: str = "KQJ-01", verified: str = "通过", failed: int = 0, other: str = "休息",
             time: str = "08:01") -> None:
        """``present`` weekdays 出勤 (default: the post's required days), the other days ``other``;
        the last ``failed`` present days with 人脸识别 核验不通过."""
        want = self.required.get(post, 20) if present is None else present
        days = _month_days(month)
        weekdays = [d for d in days if d.weekday() < 5]
        on = set((weekdays + [d for d in days if d.weekday() >= 5])[:want])
        present_days = sorted(on)
        fail_from = len(present_days) - failed
        for d in days:
            if d in on:
                i = present_days.index(d)
                self.t["attendance"].append({
                    "id_number": idn, "post_code": post, "work_date": d.isoformat(), "status": "出勤",
                    "check_in_time": time, "method": method, "device_id": device,
                    "verified": ("不通过" if i >= fail_from else verified) if method == "人脸识别" else ""})
            else:
                self.t["attendance"].append({"id_number": idn, "post_code": post, "work_date": d.isoformat(),
                                             "status": other})

    def pay(self, idn: str, post: str, period: str, amount: str | None = None, *, paid_on: str | None = None,
            account: str | None = None, account_name: str | None = None) -> None:
        if amount is None:
            fen = self.wage_of[post]
            amount = f"{fen // 100}.{fen % 100:02d}"
        self.t["wages"].append({
            "id_number": idn, "post_code": post, "period": period, "amount": amount,
            "paid_on": paid_on or f"{_next_month(period)}-10",
            "account_number": self.accounts[idn] if account is None else account,
            "account_name": self.names[idn] if account_name is None else account_name})

    def month(self, idn: str, post: str, month: str) -> None:
        """A clean month: full attendance, paid in full on time."""
        self.work(idn, post, month)
        self.pay(idn, post, month)

    def dead_but_paid(self, name: str, post: str, died: str, worked: list[str], paid: list[str]) -> str:
        """A person placed on ``post`` from the first month worked, who died on ``died`` and was still
        paid for the months ``paid`` with no attendance (PS01; PS04 for the months after the death)."""
        idn = self.person(name)
        self.place(idn, post, f"{worked[0]}-01")
        for m in worked:
            self.month(idn, post, m)
        self.t["deaths"].append({"id_number": idn, "death_date": died})
        for m in paid:
            self.pay(idn, post, m)
        return idn

    # -- the audit --
    def audit(self, app, folder: Path, as_of: str = "2025-12-31") -> list[dict]:
        """Import this county (tables left empty are not written) and run every rule; return the
        findings as plain dicts: rule, category, subject (the ID number for persons), post,
        periods, amount (yuan, 2 decimals, or None), status, evidence, explanation."""
        from audit.engine.runner import run_audit
        from audit.ledger.importer import import_bundle

        tables = {k: v for k, v in self.t.items() if v}
        result = import_bundle(write_bundle(folder, tables), engine=db.engine, pii=app.extensions["pii"])
        assert result.ok, [str(e) for e in result.errors[:10]]
        self.run = run_audit(db.engine, as_of=dt.date.fromisoformat(as_of), actor="test")
        return findings(app)


def findings(app) -> list[dict]:
    from models import Finding, Person, Post

    db.session.rollback()  # see what other connections committed
    pii = app.extensions["pii"]
    ids = {p.id: pii.decrypt(p.id_enc) for p in db.session.scalars(select(Person))}
    codes = {p.id: p.code for p in db.session.scalars(select(Post))}
    out = []
    for f in db.session.scalars(select(Finding).order_by(Finding.rule, Finding.period_start)):
        out.append({
            "rule": f.rule, "category": f.category, "subject_type": f.subject_type,
            "subject": ids[f.person_id] if f.subject_type == "person" else f.subject_label,
            "persons": sorted(ids[i] for i in f.person_ids), "post": codes.get(f.post_id),
                    "periods": f.periods,
            "amount": None if f.amount_at_risk_fen is None else f"{f.amount_at_risk_fen / 100:.2f}",
            "status": f.status, "evidence": f.evidence, "explanation": f.explanation, "id": f.id})
    return out


def brief(found: list[dict], rule: str | None = None) -> list[tuple]:
    """(rule, subject, post, periods, amount) of the findings (of one rule), sorted, for assertions:
    compare with ``sorted([...])``."""
    return sorted(((f["rule"], f["subject"], f["post"], f["periods"], f["amount"]) for f in found
                   if rule is None or f["rule"] == rule), key=lambda t: tuple(map(str, t)))


def run_import(app, path, **kw):
    """Import the bundle at ``path`` into the test app's database, as the user ``tester``."""
    return import_bundle(path, engine=db.engine, pii=app.extensions["pii"], actor="tester", **kw)


# The `audit` command in a child process that notes its own peak memory (VmHWM) as it exits: the
# ru_maxrss that os.wait4 gives would carry the peak of the forking process (a pytest worker holds
# hundreds of MB), not what the command itself used.
_CLI_NOTING_PEAK = (
    "import atexit, os\n"
    "def _peak():\n"
    "    with open('/proc/self/status') as status:\n"
    "        kib = next(int(line.split()[1]) for line in status if line.startswith('VmHWM:'))\n"
    "    with open(os.environ['AUDIT_TEST_PEAK_FILE'], 'w') as out:\n"
    "        out.write(str(kib))\n"
    "atexit.register(_peak)\n"
    "from audit.cli import main\n"
    "main()\n")


def run_cli(args: list[str], env: dict[str, str], folder: Path, cwd: Path | None = None
            ) -> tuple[int, str, float, float]:
    """(exit code, standard error, peak memory in MB, seconds) of ``audit ARGS`` in a child process."""
    import subprocess
    import sys
    import time

    peak_file = folder / "cli_peak_kib"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _CLI_NOTING_PEAK, *args],
                          env=dict(env, AUDIT_TEST_PEAK_FILE=str(peak_file)), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=120, cwd=cwd)
    seconds = time.monotonic() - started
    return proc.returncode, proc.stderr, int(peak_file.read_text()) / 1024, seconds
