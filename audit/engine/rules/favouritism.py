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
        officials = sorted({(row["official_id"], row["official_name"], row["official_role"],
                             row["official_unit"] or "", row["official_row"]) for row in group})
        placements = sorted({(row["start_date"], row["end_date"]) for row in group}, key=lambda held: held[0])
        held = "、".join(f"{start} 至 {end or '今'}" for start, end in placements)
        cadres = "、".join(f"{unit}{role} {name}（{id_masked}）"
                          for id_masked, name, role, unit, _ in officials)
        paid = f"已发放工资 {yuan(first['paid_fen'])} 元" if first["paid_fen"] is not None else "尚未发放工资"
        yield Draft(
            f"{first['name']} 与干部名单上的 {cadres} 同属一户（户编号 {first['household']}），"
            f"却安置在公益性岗位 {first['post_code']}（{held}），{paid}。",
            {"household": first["household"], "post": first["post_code"],
             "placements": [{"start_date": start, "end_date": end} for start, end in placements],
             "officials": [{"id": id_masked, "name": name, "role": role, "unit": unit or None,
                            "official_id": official_row}
                           for id_masked, name, role, unit, official_row in officials],
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
    placement, person, official = Placement.__table__, Person.__table__, Official.__table__
    household, posts, paid_month = Household.__table__, Post.__table__, ctx.wage_month
    paid = (select(func.sum(paid_month.c.paid_fen))
            .where(paid_month.c.person_id == placement.c.person_id,
                   paid_month.c.post_id == placement.c.position_id)
            .scalar_subquery())
    return (select(placement.c.person_id, placement.c.position_id.label("post_id"), placement.c.start_date,
                   placement.c.end_date, person.c.name, household.c.code.label("household"),
                   official.c.id_masked.label("official_id"), official.c.id.label("official_row"),
                   official.c.name.label("official_name"), official.c.role.label("official_role"),
                   official.c.unit.label("official_unit"), paid.label("paid_fen"),
                   posts.c.code.label("post_code"))
            .join(person, person.c.id == placement.c.person_id)
            .join(official, and_(official.c.household_id == person.c.household_id,
                                 official.c.id_hash != person.c.id_hash))
            .join(household, household.c.id == person.c.household_id)
            .join(posts, posts.c.id == placement.c.position_id)
            .where(placement.c.start_date <= ctx.as_of))
