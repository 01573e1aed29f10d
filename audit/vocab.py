"""Closed vocabularies of the ledger format (shared/docs/ledger-format.md)."""
from __future__ import annotations

# 人员类别. The position in this tuple is the bit in persons.category_mask: append only, never reorder.
CATEGORIES: tuple[str, ...] = (
    "脱贫人口",
    "防止返贫监测对象",
    "低保对象",
    "低保边缘家庭成员",
    "特困人员",
    "零就业家庭成员",
    "残疾人",
    "大龄失业人员",
    "长期失业人员",
    "登记失业人员",
    "离校未就业高校毕业生",
    "退役军人",
    "刑满释放人员",
    "戒毒康复人员",
    "退捕渔民",
    "化解过剩产能企业职工",
)
CATEGORY_BIT = {name: 1 << i for i, name in enumerate(CATEGORIES)}
CATEGORY_ALIASES = {"4050": "大龄失业人员", "4050人员": "大龄失业人员", "大龄失业人员(4050)": "大龄失业人员"}
# 脱贫人口 incl. 防止返贫监测对象: the workshop headcount and subsidy definitions count these.
POVERTY_MASK = CATEGORY_BIT["脱贫人口"] | CATEGORY_BIT["防止返贫监测对象"]


def categories_of(mask: int) -> list[str]:
    return [name for i, name in enumerate(CATEGORIES) if mask & (1 << i)]


LABOUR_ABILITY = ("普通劳动力", "弱劳动力", "半劳动力", "丧失劳动力", "无劳动力")
POSITION_KINDS = ("乡村公益性岗位", "城镇公益性岗位")
ATTENDANCE_STATUS = ("出勤", "请假", "缺勤", "休息")
CHECK_IN_METHODS = ("人脸识别", "指纹", "手工登记", "小程序定位")
VERIFY_RESULTS = ("通过", "不通过", "未核验")
PENSION_KINDS = ("城镇职工基本养老金", "机关事业单位养老金", "城乡居民基本养老保险")
BUSINESS_ROLES = ("法定代表人", "股东", "个体工商户经营者")
OFFICIAL_ROLES = ("村党组织书记", "村委会主任", "村两委成员", "驻村工作队员", "乡镇干部", "公职人员")

# 上报数据 metrics: English key -> Chinese name; money metrics are in yuan, the others headcounts.
METRICS = {
    "poverty_headcount": "吸纳脱贫人口数",
    "total_headcount": "用工总人数",
    "wages_total": "工资发放总额",
    "subsidy_claimed": "申领带动就业奖补",
}
MONEY_METRICS = frozenset({"wages_total", "subsidy_claimed"})
