"""优亲厚友: a public post given to the family of a cadre."""
from __future__ import annotations

from sqlalchemy import and_, func, select

from models import Household, Official, Person, Placement, Post

from ..rule import SEED_003, Draft, grouped, rule, yuan

BASIS = (f"{SEED_003} 五(三)：及时纠正查处优亲厚友等违规行为，清退违规在岗人员；"
         "各地公益性岗位管理办法：村干部及其家庭成员不得安置公益性岗位")


def _fv01_combine(rows, ctx):
    """One finding per person and position (several placements on one position, or several cadres in
    the household, are listed in one finding: the finding's id is the person and the post)."""
    for (person_id, post_id), group in grouped(rows, "person_id", "post_id"):
        first = group[0]
        officials = sorted({(r["official_id"], r["official_name"], r["official_role"], r["official_unit"] or "",
                             r["official_row"]) for r in group})
        placements = sorted({(r["start_date"], r["end_date"]) for r in group}, key=lambda p: p[0])
        held = "、".join(f"{s} 至 {e or '今'}" for s, e in placements)
        cadres = "、".join(f"{unit}{role} {name}（{oid}）" for oid, name, role, unit, _ in officials)
        paid = f"已发放工资 {yuan(first['paid_fen'])} 元" if first["paid_fen"] is not None else "尚未发放工资"
        yield Draft(
            f"{first['name']} 与干部名单上的 {cadres} 同属一户（户编号 {first['household']}），"
            f"却安置在公益性岗位 {first['post_code']}（{held}），{paid}。",
            {"household": first["household"], "post": first["post_code"],
             "placements": [{"start_date": s, "end_date": e} for s, e in placements],
             "officials": [{"id": oid, "name": name, "role": role, "unit": unit or None, "official_id": row}
                           for oid, name, role, unit, row in officials],
             "paid": yuan(first["paid_fen"]) if first["paid_fen"] is not None else None},
            person_id=person_id, post_id=post_id, periods=[], amount_fen=first["paid_fen"],
            spans=[(None, None)])  # every month paid on the post


@rule("FV01", category="favouritism", title="干部家庭成员安置公益性岗位", severity="high", basis=BASIS,
      requires=("placements", "officials"),
      needs_columns=(("persons", "household_id"), ("officials", "household_id")),
      combine=_fv01_combine, describe=lambda r, ctx: None,
      public_posts_only=True)
def fv01(ctx):
    """A placement (starting on or before the as-of date) of a person who shares a household with
    someone on the officials list and is not that official (the official's own post is IP05's).
    One row per placement and official; amount: all wages paid to the person on that position up to
    the as-of date (None if nothing was paid)."""
    pl, p, o, hh, posts, w = (Placement.__table__, Person.__table__, Official.__table__, Household.__table__,
                              Post.__table__, ctx.wage_month)
    paid = (select(func.sum(w.c.paid_fen)).where(w.c.person_id == pl.c.person_id, w.c.post_id == pl.c.position_id)
            .scalar_subquery())
    return (select(pl.c.person_id, pl.c.position_id.label("post_id"), pl.c.start_date, pl.c.end_date, p.c.name,
                   hh.c.code.label("household"), o.c.id_masked.label("official_id"), o.c.id.label("official_row"),
                   o.c.name.label("official_name"), o.c.role.label("official_role"),
                   o.c.unit.label("official_unit"), paid.label("paid_fen"), posts.c.code.label("post_code"))
            .join(p, p.c.id == pl.c.person_id)
            .join(o, and_(o.c.household_id == p.c.household_id, o.c.id_hash != p.c.id_hash))
            .join(hh, hh.c.id == p.c.household_id)
            .join(posts, posts.c.id == pl.c.position_id)
            .where(pl.c.start_date <= ctx.as_of))
