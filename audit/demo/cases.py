"""The planted cases, one method ``case_…`` each: one of every rule of ``shared/docs/rules.md``, then the
look-alikes that must not fire (``case_z_…``). A part of the planter (:mod:`audit.demo.plant`), which
runs every ``case_`` method in name order; each builds its own people, posts and workshops with the
planter's row makers and states what an audit must find (``expect``) or must not (``lookalike``)."""
from __future__ import annotations

from datetime import date, timedelta

from .county import FIRM_WORDS, SUBSIDY_FEN
from .synthetic import ONE, PlantedPerson, add_months, add_years, make_id_number, month_end, ym


class PlantedCases:
    # =====================================================================================================
    # The cases. Month indices are 0-based within the period (M0 = the first generated month).
    # =====================================================================================================
    def all_months(self):
        return range(self.n)

    # ---- 吃空饷 ----
    def case_ps01(self):
        self.case = "PS01：M2 全月缺勤却照发全额工资"
        p, x = self.person(), self.position()
        self.place(p, x, self.before(8, 3))
        self.public_months(p, x, [m for m in self.all_months() if m != 2])
        self.attend(p, x, 2, absent=True)
        self.pay(p, x, 2, self.positions[x]["wage"])
        self.expect("PS01", p.idn, x, [2], self.positions[x]["wage"])

    def case_ps02(self):
        self.case = "PS02：月标准 810.50 元、规定 20 天，M3 出勤 15 天却发全额（应发 607.88，四舍五入到分）"
        p, x = self.person(), self.position(wage=81_050, required=20)
        self.place(p, x, self.before(9, 2))
        self.public_months(p, x, [m for m in self.all_months() if m != 3])
        present = self.attend(p, x, 3, present=15)
        self.pay(p, x, 3, 81_050)
        self.expect("PS02", p.idn, x, [3], 81_050 - self.due(x, present))

    def case_ps03(self):
        self.case = "PS03：M1-15 离岗（当月按天发放），M2、M3 仍发全额且无考勤（同时 PS01）"
        p, x = self.person(), self.position()
        end = self.day(1, 15)
        self.place(p, x, self.before(6, 5), end)
        self.public_month(p, x, 0)
        self.public_month(p, x, 1, hi=end)
        wage = self.positions[x]["wage"]
        for m in (2, 3):
            self.pay(p, x, m, wage)
            self.expect("PS03", p.idn, x, [m], wage)
            self.expect("PS01", p.idn, x, [m], wage)

    def case_ps04(self):
        self.case = "PS04：M2-20 死亡，当月按天发放；M3、M4 仍发全额且无考勤（同时 PS01）"
        p, x = self.person(age=58), self.position()
        death = self.day(2, 20)
        self.place(p, x, self.before(10, 1))
        self.public_months(p, x, [0, 1])
        self.public_month(p, x, 2, hi=death - ONE)
        self.rows["deaths"].append((p.idn, death.isoformat()))
        wage = self.positions[x]["wage"]
        for m in (3, 4):
            self.pay(p, x, m, wage)
            self.expect("PS04", p.idn, x, [m], wage)
            self.expect("PS01", p.idn, x, [m], wage)

    def case_ps05(self):
        self.case = "PS05：外出务工 M1-25 至 M4-05，其间手工登记照常“出勤”、照发工资；整月在外的 M2、M3"
        p, x = self.person(), self.position()
        self.place(p, x, self.before(14, 6))
        register = self.device("DJB")
        paid = {m: self.public_month(p, x, m, method="手工登记", device=register) for m in self.all_months()}
        self.rows["migrant_work"].append((p.idn, self.day(1, 25).isoformat(), self.day(4, 5).isoformat(),
                                          "广东省东莞市"))
        for m in (2, 3):
            self.expect("PS05", p.idn, x, [m], paid[m])

    def case_ps06(self):
        self.case = "PS06：M3、M4 由无关企业缴纳社保（在别处就业），同月照发岗位工资"
        p, x = self.person(), self.position()
        self.place(p, x, self.before(5, 8))
        paid = {m: self.public_month(p, x, m) for m in self.all_months()}
        firm = f"重庆{self.rng.choice(FIRM_WORDS)}建筑工程有限公司"
        code = self._credit_code()
        for m in (3, 4):
            self.rows["social_insurance"].append((p.idn, ym(self.M[m]), firm, code))
            self.expect("PS06", p.idn, x, [m], paid[m])

    def case_ps07_wa01_workshop(self):
        """A clean planted workshop with three staff: one paid twice for M2 (PS07), one whose M3
        was worked and never paid (WA01, amount unknown for workshops), one clean."""
        self.case = "车间 A"
        ws = self.workshop(baseline=3, certified=self.before(24, 9))
        dup, unpaid, clean = self.person(), self.person(), self.person()
        for p in (dup, unpaid, clean):
            self.staff(ws, p, self.before(12, 4))
        for m in self.all_months():
            self.ws_month(dup, ws, m, copies=2 if m == 2 else 1)
            self.ws_month(unpaid, ws, m, pay=m != 3)
            self.ws_month(clean, ws, m)
        self.case = "PS07：车间工人 M2 工资同日同额同账户发放两次"
        self.expect("PS07", dup.idn, ws, [2], self.workshops[ws]["wage"][dup.idn])
        self.case = "WA01（车间）：M3 有出勤、到期未发工资（车间应发数未知，金额为空）"
        self.expect("WA01", unpaid.idn, ws, [3], None)

    # ---- 变相发钱 ----
    def case_dp01(self):
        self.case = "DP01：从未在该岗位的人在别人的岗位上领 M3 工资（无考勤，同时 PS01）"
        holder, outsider, x = self.person(), self.person(), self.position()
        self.place(holder, x, self.before(7, 7))
        self.public_months(holder, x, self.all_months())
        wage = self.positions[x]["wage"]
        self.pay(outsider, x, 3, wage)
        self.expect("DP01", outsider.idn, x, [3], wage)
        self.expect("PS01", outsider.idn, x, [3], wage)

    def case_dp02(self):
        self.case = "DP02：月标准 800，M4 一笔发放 1200（全勤，同时 PS02 多发 400）"
        p, x = self.person(), self.position(wage=80_000)
        self.place(p, x, self.before(11, 3))
        self.public_months(p, x, [m for m in self.all_months() if m != 4])
        self.attend(p, x, 4)
        self.pay(p, x, 4, 120_000)
        self.expect("DP02", p.idn, x, [4], 40_000)
        self.expect("PS02", p.idn, x, [4], 40_000)

    # ---- 未按时足额发放 ----
    def case_wa01(self):
        self.case = "WA01：M2 到期后才补发 500（少于应发），M3 有出勤始终未发"
        p, x = self.person(), self.position()
        self.place(p, x, self.before(9, 9))
        self.public_months(p, x, [m for m in self.all_months() if m not in (2, 3)])
        due2 = self.due(x, self.attend(p, x, 2))
        self.pay(p, x, 2, 50_000, paid_on=self.day(4, 5))  # due date: the end of M3
        due3 = self.due(x, self.attend(p, x, 3))
        self.expect("WA01", p.idn, x, [2], due2 - 50_000)
        self.expect("WA01", p.idn, x, [3], due3)

    # ---- 冒名顶替 ----
    def case_im01(self):
        self.case = "IM01：M2 人脸识别不通过 8 次（≥3 且 ≥30%）；M3 不通过 5 次（<30%，不应报）"
        p, x = self.person(), self.position()
        self.place(p, x, self.before(8, 6))
        paid = {m: self.public_month(p, x, m, failed={2: 8, 3: 5}.get(m, 0)) for m in self.all_months()}
        self.expect("IM01", p.idn, x, [2], paid[2])

    def case_im02(self):
        self.case = "IM02：一部个人手机 M3 每个工作日为 3 人签到"
        phone = self._new_phone()
        trio = [(self.person(), self.position()) for _ in range(3)]
        for p, x in trio:
            self.place(p, x, self.before(10, 2))
            paid = {m: self.public_month(p, x, m, method="小程序定位",
                                         device=phone if m == 3 else None) for m in self.all_months()}
            self.expect("IM02", p.idn, x, [3], paid[3])

    def case_im03(self):
        self.case = "IM03：M3、M4 工资打入户名为他人（村文书）的账户"
        p, x = self.person(), self.position()
        clerk_account, clerk_name = self._new_bank(), self.name(False, 2)
        self.place(p, x, self.before(13, 4))
        for m in self.all_months():
            present = self.attend(p, x, m)
            other = m in (3, 4)
            self.pay(p, x, m, self.due(x, present), account=clerk_account if other else None,
                     account_name=clerk_name if other else None)
            if other:
                self.expect("IM03", p.idn, x, [m], self.due(x, present))

    def case_im04(self):
        self.case = "IM04：M4 两人的工资打入同一账户（户名照填本人姓名）"
        shared = self._new_bank()
        for _ in range(2):
            p, x = self.person(), self.position()
            self.place(p, x, self.before(7, 1))
            for m in self.all_months():
                due = self.due(x, self.attend(p, x, m))
                self.pay(p, x, m, due, account=shared if m == 4 else None)
                if m == 4:
                    self.expect("IM04", p.idn, x, [4], due)

    def case_im05(self):
        self.case = "IM05：M2-10 死亡，此后 M2、M3 仍有手工登记的出勤并发放（M3 同时 PS04）"
        p, x = self.person(age=57), self.position()
        death = self.day(2, 10)
        register = self.device("DJB")
        self.place(p, x, self.before(16, 3))
        self.rows["deaths"].append((p.idn, death.isoformat()))
        paid = {m: self.public_month(p, x, m, method="手工登记" if m >= 2 else "人脸识别",
                                     device=register if m >= 2 else None) for m in range(4)}
        self.expect("IM05", p.idn, x, [2], paid[2])
        self.expect("IM05", p.idn, x, [3], paid[3])
        self.expect("PS04", p.idn, x, [3], paid[3])

    # ---- 安置不符合条件人员 (per placement, no month; amount = all pay on that post) ----
    def _ineligible(self, rule: str, case: str, p: PlantedPerson, start: date, **pos) -> str:
        self.case = case
        x = self.position(**pos)
        self.place(p, x, start)
        paid = self.public_months(p, x, self.all_months())
        self.expect(rule, p.idn, x, [], paid)
        return x

    def case_ip01(self):
        start = self.before(7, 1)
        self._ineligible("IP01", "IP01：人员类别为空（不属于任何安置对象类别）", self.person(cats=""), start)

    def case_ip02(self):
        start = self.before(7, 1)
        p = self.person(age=66, at=start, male=True)
        self._ineligible("IP02", "IP02：乡村公益性岗位上岗时 66 岁（上限 65）", p, start)

    def case_ip03(self):
        start = self.before(6, 1)
        p = self.person(age=62, at=start, male=True)
        since = add_months(add_years(p.birth, 60), 1)  # retired at 60, two years before the post
        self.rows["pensions"].append((p.idn, "城镇职工基本养老金", since.isoformat()))
        self._ineligible("IP03", "IP03：上岗前已领取城镇职工基本养老金", p, start)

    def case_ip04(self):
        start = self.before(5, 1)
        p = self.person()
        self.rows["businesses"].append((p.idn, f"{self.district}{self.rng.choice(FIRM_WORDS)}商贸有限公司",
                                        "法定代表人", self.before(48, 15).isoformat(), ""))
        self._ineligible("IP04", "IP04：在岗期间是一家存续企业的法定代表人", p, start)

    def case_ip05(self):
        start = self.before(9, 1)
        p = self.person(age=45)
        town, village = self.rural
        self.rows["officials"].append((p.idn, p.name, "村两委成员", f"{village}村民委员会", self.district,
                                       town, village, p.hh))
        self._ineligible("IP05", "IP05：村两委成员本人占用公益性岗位", p, start)

    def case_ip06(self):
        self.case = "IP06：同户两人，甲在岗期间乙于 M1-01 上岗（一户一岗）"
        hh = self._new_household()
        a, b = self.person(hh=hh, male=True), self.person(hh=hh, male=False)
        xa, xb = self.position(), self.position(wage=90_000)
        self.place(a, xa, self.before(10, 6))
        self.public_months(a, xa, self.all_months())
        self.place(b, xb, self.day(1, 1))
        paid = self.public_months(b, xb, range(1, self.n))
        self.expect("IP06", hh, xb, [], paid)

    def case_ip07(self):
        self.case = "IP07：城镇公益性岗位连续在岗超过 36 个月（M3 起为期满后的月份）"
        start = add_months(self.p0, -33)
        p = self.person(age=40, at=start, male=True, cats="登记失业人员")
        x = self.position(urban=True, wage=190_000)
        self.place(p, x, start)
        paid = {m: self.public_month(p, x, m) for m in self.all_months()}
        self.expect("IP07", p.idn, x, [], sum(paid[m] for m in range(3, self.n)))

    def case_ip08(self):
        start = self.before(8, 1)
        self._ineligible("IP08", "IP08：劳动能力为丧失劳动力", self.person(ability="丧失劳动力"), start)

    # ---- 优亲厚友 ----
    def case_fv01(self):
        self.case = "FV01：与村委会主任同户的家庭成员占用公益性岗位"
        hh = self._new_household()
        p = self.person(hh=hh)
        cadre_birth = self.born(50, self.p0)
        cadre = make_id_number(self.rng, self.code, cadre_birth, True)
        while cadre in self.ids:
            cadre = make_id_number(self.rng, self.code, cadre_birth, True)
        self.ids.add(cadre)
        town, village = self.rural
        self.rows["officials"].append((cadre, self.name(True), "村委会主任", f"{village}村民委员会",
                                       self.district, town, village, hh))
        x = self.position()
        self.place(p, x, self.before(6, 1))
        paid = self.public_months(p, x, self.all_months())
        self.expect("FV01", p.idn, x, [], paid)

    # ---- 账实不符 (workshops) ----
    def case_lm(self):
        self.case = "车间 LM：6 名脱贫人口 + 2 名其他人员全年在册"
        ws = self.workshop(baseline=6, certified=self.before(30, 12))
        staff = [self.person() for _ in range(6)] + [self.person(cats="登记失业人员") for _ in range(2)]
        for p in staff:
            self.staff(ws, p, self.before(7, 2), wage=230_000)
            for m in self.all_months():
                self.ws_month(p, ws, m)
        # mis-reports, one metric a month (x100 for headcounts, fen for money)
        self.report_override[(ws, 1, "poverty_headcount")] = 8 * 100  # 6 on the roster
        self.report_override[(ws, 2, "total_headcount")] = 10 * 100  # 8 on the roster
        self.report_override[(ws, 3, "wages_total")] = self.ws_paid[(ws, 3)] + 100_000
        self.report_override[(ws, 4, "subsidy_claimed")] = 8 * SUBSIDY_FEN  # 6 stable poverty staff: 3000.00
        self.case = "LM01：M1 上报吸纳脱贫人口 8 人，实为 6 人"
        self.expect("LM01", ws, ws, [1], None)
        self.case = "LM02：M2 上报用工总人数 10 人，实为 8 人"
        self.expect("LM02", ws, ws, [2], None)
        self.case = "LM03：M3 上报工资总额比实发多 1000.00 元"
        self.expect("LM03", ws, ws, [3], None)
        self.case = "LM04：M4 申领奖补 4000.00 元，按规定应为 3000.00 元"
        self.expect("LM04", ws, ws, [4], 100_000)
        self.case = "LM05：M5 花名册上有 2 名脱贫人口全月无出勤、无工资（数字就业）"
        for _ in range(2):
            self.staff(ws, self.person(), self.M[5], month_end(self.M[5]), wage=230_000)
        self.expect("LM05", ws, ws, [5], None)

    def case_ts01(self):
        self.case = "TS01：基数 5 人，一名脱贫人口 M3-12 离职、M4-01 才补上，M3 月末只有 4 人"
        certified = self.before(20, 1)
        ws = self.workshop(baseline=5, certified=certified)
        staff = [self.person() for _ in range(5)]
        leave = self.day(3, 12)
        for i, p in enumerate(staff):
            self.staff(ws, p, certified, leave if i == 0 else None, wage=220_000)
            for m in self.all_months():
                if i == 0 and m > 3:
                    break
                self.ws_month(p, ws, m, hi=leave if i == 0 and m == 3 else None)
        late = self.person()
        self.staff(ws, late, self.M[4], wage=220_000)
        for m in range(4, self.n):
            self.ws_month(late, ws, m)
        self.expect("TS01", ws, ws, [3], None)

    # ---- 数据质量 ----
    def case_dq01(self):
        self.case = "DQ01：公益性岗位每月发放工资，但该岗位没有任何考勤记录"
        p, x = self.person(), self.position()
        self.place(p, x, self.before(6, 1))
        for m in self.all_months():
            self.pay(p, x, m, self.positions[x]["wage"])
        self.expect("DQ01", x, x, [], None)

    def case_dq02(self):
        self.case = "DQ02：帮扶车间未填上年末吸纳脱贫人口基数（TS01 无法判断）"
        ws = self.workshop(baseline=None, certified=self.before(18, 1))
        for _ in range(2):
            p = self.person()
            self.staff(ws, p, self.before(10, 1), wage=210_000)
            for m in self.all_months():
                self.ws_month(p, ws, m)
        self.expect("DQ02", ws, ws, [], None)

    # =====================================================================================================
    # Look-alikes: each in its own person and post; none may produce a violation finding.
    # =====================================================================================================
    def case_z_register(self):
        register = "1" + f"{self.rng.randrange(10 ** 11):011d}"  # a 12-digit serial: not a mobile number
        note = f"村文书的考勤登记簿（设备号 {register}，非手机号）每天为全村 6 人签到"
        for _ in range(6):
            p, x = self.person(), self.position()
            self.place(p, x, self.before(12, 1))
            self.public_months(p, x, self.all_months(), method="手工登记", device=register)
            self.lookalike(p.idn, x, note)

    def case_z_neighbour_phone(self):
        phone = self._new_phone()
        note = "邻居的手机在 M2 的两天里为 2 人签到"
        for _ in range(2):
            p, x = self.person(), self.position()
            self.place(p, x, self.before(9, 1))
            first_two = [d for d in (self.M[2] + timedelta(days=i) for i in range(10)) if d.weekday() < 5][:2]
            for m in self.all_months():
                self.public_month(p, x, m, method="小程序定位",
                                  by_day=lambda d, first_two=first_two:
                                  ("小程序定位", phone if d in first_two else None))
            self.lookalike(p.idn, x, note)

    def case_z_residents_pension(self):
        start = self.before(8, 1)
        p = self.person(age=61, at=start, male=False)
        since = add_months(add_years(p.birth, 60), 1)
        self.rows["pensions"].append((p.idn, "城乡居民基本养老保险", since.isoformat()))
        x = self.position()
        self.place(p, x, start)
        self.public_months(p, x, self.all_months())
        self.lookalike(p.idn, x, "在岗人员领取城乡居民基本养老保险（不影响安置）")

    def case_z_death_after_last_pay(self):
        p, x = self.person(age=59), self.position()
        death = self.day(4, 3)
        self.place(p, x, self.before(9, 1), death)
        self.public_months(p, x, range(4))
        self.rows["deaths"].append((p.idn, death.isoformat()))
        self.lookalike(p.idn, x, "M4-03 死亡，最后一次发放的是 M3 工资")

    def case_z_own_employer_insurance(self):
        p, x = self.person(), self.position()
        self.place(p, x, self.before(10, 1))
        self.public_months(p, x, self.all_months())
        for m in self.all_months():
            self.rows["social_insurance"].append((p.idn, ym(self.M[m]), self.positions[x]["employer"], ""))
        self.lookalike(p.idn, x, "社保由本岗位的用工单位缴纳")

    def case_z_spaced_account_name(self):
        p = self.person(name=None)
        spaced = p.name[0] + " " + p.name[1:]
        x = self.position()
        self.place(p, x, self.before(7, 1))
        for m in self.all_months():
            self.pay(p, x, m, self.due(x, self.attend(p, x, m)), account_name=spaced)
        self.lookalike(p.idn, x, f"收款户名录成“{spaced}”（中间有空格）")

    def case_z_rural_62(self):
        start = self.before(4, 1)
        p, x = self.person(age=62, at=start, male=True), self.position()
        self.place(p, x, start)
        self.public_months(p, x, self.all_months())
        self.lookalike(p.idn, x, "乡村公益性岗位上岗时 62 岁（未超过 65）")

    def case_z_shareholder(self):
        p, x = self.person(), self.position()
        firm = f"{self.district}{self.rng.choice(FIRM_WORDS)}农业开发有限公司"
        self.rows["businesses"].append((p.idn, firm, "股东", self.before(30, 20).isoformat(), ""))
        self.place(p, x, self.before(6, 1))
        self.public_months(p, x, self.all_months())
        self.lookalike(p.idn, x, "企业股东（非法定代表人）")

    def case_z_household_no_overlap(self):
        hh = self._new_household()
        c, d = self.person(hh=hh, male=True), self.person(hh=hh, male=False)
        xc, xd = self.position(), self.position()
        self.place(c, xc, self.before(8, 1), month_end(self.M[2]))
        self.public_months(c, xc, range(3))
        self.place(d, xd, self.M[3])
        self.public_months(d, xd, range(3, self.n))
        self.lookalike(hh, None, "同户两人先后上岗：一人 M2 月末离岗，另一人 M3-01 上岗，时间不重叠")

    def case_z_left_mid_month(self):
        p, x = self.person(), self.position()
        end = self.day(2, 14)
        self.place(p, x, self.before(11, 1), end)
        self.public_months(p, x, range(2))
        self.public_month(p, x, 2, hi=end)
        self.lookalike(p.idn, x, "M2-14 离岗，当月按出勤天数折算发放，此后不再发放")

