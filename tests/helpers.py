"""Test data: synthetic ID numbers, bundles written as CSV, database snapshots."""
from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

from sqlalchemy import func, inspect, select, text

from audit.demo.generator import make_id_number
from models import db


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
    """Write ``{table: [row dicts]}`` as CSV files (headers from the first row's keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        headers = list(rows[0].keys()) if rows else []
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
            out[name] = sorted((tuple(map(repr, r)) for r in rows))
    return out


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def base_tables(people: People) -> dict[str, list[dict]]:
    """A small, valid bundle: three people, two public posts, one workshop, a few days of work."""
    a, b, c = people.id("1975-03-02", True), people.id("1982-11-30", False), people.id("1990-07-15", True)
    return {
        "persons": [
            {"id_number": a, "name": "王大山", "household_id": "H001", "district": "奉节县", "township": "白帝镇",
             "village": "白帝村", "categories": "脱贫人口", "labour_ability": "普通劳动力",
             "bank_account": "6228480000000000011"},
            {"id_number": b, "name": "李小花", "household_id": "H002", "district": "奉节县", "township": "白帝镇",
             "village": "白帝村", "categories": "防止返贫监测对象;残疾人", "labour_ability": "弱劳动力",
             "bank_account": "6228480000000000022"},
            {"id_number": c, "name": "张三", "household_id": "H003", "district": "奉节县", "township": "永安街道",
             "village": "桂井社区", "categories": "脱贫人口", "labour_ability": "普通劳动力",
             "bank_account": "6228480000000000033"},
        ],
        "positions": [
            {"position_code": "GW-001", "title": "保洁员", "kind": "乡村公益性岗位", "employer": "白帝村村民委员会",
             "district": "奉节县", "township": "白帝镇", "village": "白帝村", "monthly_wage": "800.00",
             "required_days": "20"},
            {"position_code": "GW-002", "title": "护林员", "kind": "乡村公益性岗位", "employer": "白帝村村民委员会",
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
                       "unit": "白帝村党支部", "district": "奉节县", "township": "白帝镇", "village": "白帝村",
                       "household_id": "H900"}],
    }
