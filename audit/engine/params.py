"""Rule parameter overrides: the one place that changes them (and logs the change)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, insert, select

from audit.logchain import append
from models import RuleParameter

from .rule import all_rules


class ParameterError(ValueError):
    """A refused change; the message is for the user."""


def set_override(conn: Connection, *, rule: str, name: str, value: Any, effective_from: dt.date,
                 district: str | None, township: str | None, actor: str, note: str | None = None) -> int:
    rules = {r.code: r for r in all_rules()}
    if rule not in rules:
        raise ParameterError(f"没有规则 {rule}")
    param = next((p for p in rules[rule].params if p.name == name), None)
    if param is None:
        names = "、".join(p.name for p in rules[rule].params) or "（该规则没有参数）"
        raise ParameterError(f"规则 {rule} 没有参数 {name}；可设参数：{names}")
    if township and not district:
        raise ParameterError("指定乡镇街道时必须同时指定所属区县")
    if type(param.default) is bool and type(value) is not bool or (
            isinstance(param.default, (int, float)) and type(param.default) is not bool
            and (not isinstance(value, (int, float)) or isinstance(value, bool))) or (
            isinstance(param.default, (list, tuple)) and not isinstance(value, list)):
        raise ParameterError(f"参数 {name} 的值应与缺省值 {param.default!r} 同一类型，收到 {value!r}")
    rp = RuleParameter.__table__
    new_id = conn.execute(insert(rp).values(
        rule=rule, name=name, value=value, effective_from=effective_from, district=district,
        township=township, created_by=actor, created_at=dt.datetime.now(), note=note)
        .returning(rp.c.id)).scalar_one()
    append(conn, [{
        "at": dt.datetime.now(), "actor": actor, "action": "parameter.set", "table_name": "rule_parameters",
        "row_id": new_id,
        "row_ref": f"{rule}.{name} {district or '全市'}{' ' + township if township else ''} "
                   f"自 {effective_from}",
        "old": {"default": param.default},
        "new": {"value": value, "effective_from": effective_from.isoformat(), "district": district,
                "township": township}}])
    return new_id


def overrides(conn: Connection) -> Sequence[Row]:
    rp = RuleParameter.__table__
    return conn.execute(select(rp).order_by(rp.c.rule, rp.c.name, rp.c.effective_from)).all()
