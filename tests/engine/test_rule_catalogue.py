"""The rule catalogue as declared: every parameter says its unit and the text that sets its default
(issue 16: a rule reads like the catalogue)."""
from __future__ import annotations

import datetime as dt

from audit.engine.rule import Param, all_rules


def test_every_parameter_has_a_unit_a_reference_and_coherent_dates():
    params = [(r.code, p) for r in all_rules() for p in r.params]
    assert len(params) >= 19
    for code, p in params:
        assert (isinstance(p.unit, str)
                and (p.unit or isinstance(p.default, (bool, list, tuple)))), (code, p.name)
        assert p.reference.strip(), (code, p.name)
        assert p.effective_to is None or (p.effective_from or dt.date.min) <= p.effective_to, (code, p.name)


def test_a_parameter_shows_its_default_with_its_unit():
    assert Param("x", 50_000, "", unit="分/人/月", reference="r").default_text() == "50000 分/人/月"
    assert Param("x", True, "", unit="", reference="r").default_text() == "开"
    assert (Param("x", ["脱贫人口", "低保对象"], "", unit="人员类别", reference="r")
            .default_text() == "脱贫人口、低保对象")


def test_public_post_rules_are_the_catalogues():
    """rules.md marks these *public posts*: PS02, DP02 and the whole IP family, and FV01 (a public post
    given to a cadre's family)."""
    public = {r.code for r in all_rules() if r.public_posts_only}
    assert public == {"PS02", "DP02", "FV01", *(f"IP0{n}" for n in range(1, 9))}
