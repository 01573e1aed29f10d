"""What the synthetic county is made of: the ledger's tables and their headers
(``shared/docs/ledger-format.md``), the fictional county's townships, villages and communities,
the characters of names, the post titles, trades and places, the category vocabulary, and the
subsidy rate. Data only: the generator (:mod:`audit.demo.generator`) and the planter
(:mod:`audit.demo.plant`) draw from it."""
from __future__ import annotations

# ---------------------------------------------------------------------------------------
# Format: canonical English headers of every table (ledger-format.md), in file order.
# ---------------------------------------------------------------------------------------
HEADERS: dict[str, tuple[str, ...]] = {
    "persons": ("id_number", "name", "phone", "household_id", "district", "township", "village",
                "categories", "labour_ability", "bank_account"),
    "positions": ("position_code", "title", "kind", "employer", "district", "township", "village",
                  "monthly_wage", "required_days", "created_on"),
    "placements": ("id_number", "position_code", "start_date", "end_date"),
    "workshops": ("workshop_code", "name", "operator", "credit_code", "district", "township", "village",
                  "certified_on", "baseline_poverty_headcount"),
    "workshop_staff": ("workshop_code", "id_number", "start_date", "end_date", "monthly_wage"),
    "attendance": ("id_number", "post_code", "work_date", "status", "check_in_time", "method",
                   "device_id", "verified"),
    "wages": ("id_number", "post_code", "period", "amount", "paid_on", "account_number", "account_name",
              "batch"),
    "reports": ("subject_code", "period", "metric", "value"),
    "deaths": ("id_number", "death_date"),
    "social_insurance": ("id_number", "period", "employer", "employer_credit_code"),
    "pensions": ("id_number", "kind", "since"),
    "businesses": ("id_number", "company_name", "role", "registered_on", "deregistered_on"),
    "officials": ("id_number", "name", "role", "unit", "district", "township", "village", "household_id"),
    "migrant_work": ("id_number", "start_date", "end_date", "place"),
}
TABLES: tuple[str, ...] = tuple(HEADERS)

# ---------------------------------------------------------------------------------------
# The fictional county.
# ---------------------------------------------------------------------------------------
DISTRICT = "奉节县"
DISTRICT_CODE = "500236"
# Other Chongqing districts/counties, birth places of a few residents and of outside cadres.
OTHER_REGIONS = ("500101", "500102", "500229", "500230", "500233", "500235", "500237", "500238")

# (name, 3-digit code, is a 街道 (urban), population weight)
TOWNSHIPS: tuple[tuple[str, str, bool, int], ...] = (
    ("永安街道", "001", True, 9),
    ("夔门街道", "002", True, 7),
    ("白帝镇", "101", False, 12),
    ("草堂镇", "102", False, 13),
    ("汾河镇", "103", False, 11),
    ("康乐镇", "104", False, 12),
    ("竹园镇", "105", False, 12),
    ("青龙镇", "106", False, 12),
    ("兴隆镇", "107", False, 12),
)

VILLAGE_STEMS = (
    "桃园", "石岭", "龙潭", "三角", "青山", "柏杨", "大坪", "双河", "马鞍", "金竹", "红岩", "梨子",
    "白果", "茶林", "长凼", "大湾", "凤凰", "高峰", "观音", "黄莲", "鸡公", "金鸡", "九盘", "老鹰",
    "莲花", "两河", "林口", "龙泉", "鹿池", "梅溪", "木瓜", "楠木", "平安", "七里", "清水", "桥头",
    "三坝", "沙坝", "上坪", "石板", "石门", "双龙", "水井", "松树", "太和", "天池", "铁佛", "万胜",
    "五马", "仙女", "响水", "新华", "新民", "杏林", "岩湾", "堰塘", "杨柳", "银杏", "永乐", "油房",
    "鱼泉", "玉龙", "枣子", "长岭", "竹林", "紫阳", "朱衣", "安坪", "宝塔", "碑垭", "草坪", "朝阳",
    "丛林", "大树", "东山", "繁荣", "丰收", "伏龙", "富家", "甘泉", "官田", "桂花", "和平", "红椿",
    "红星", "红土", "花园", "槐树", "黄坪", "火炬", "尖山", "锦屏", "菊花", "看山", "兰英", "梨花",
)
COMMUNITY_STEMS = (
    "诗城", "夔州", "永安", "滨江", "白帝城", "宝塔坪", "朱衣河", "营盘", "瞿塘", "三马山", "师范",
    "鱼复", "临江", "古城", "状元", "莲花池",
)

SURNAMES = (
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任",
    "姚", "卢", "钟", "谭", "陆", "汪", "范", "石", "廖", "贾", "夏", "付", "方", "邹", "熊", "秦",
    "江", "雷", "龙", "陶", "黎", "贺", "毛", "龚", "万", "向", "冉", "牟", "幸", "易", "文", "甘",
)
GIVEN_MALE = (
    "伟", "强", "军", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "华", "飞", "斌", "波",
    "林", "建", "国", "峰", "磊", "洪", "文", "志", "德", "成", "兵", "春", "海", "贵", "福", "祥",
    "云", "忠", "全", "权", "江", "川", "松", "昌", "发", "才", "友", "元", "学", "光", "宏", "远",
    "浩", "宇", "俊", "毅", "泽", "晨", "力", "东", "先", "永", "中", "坤",
)
GIVEN_FEMALE = (
    "芳", "娟", "敏", "静", "丽", "艳", "秀", "英", "霞", "燕", "玲", "萍", "红", "梅", "琴", "兰",
    "莉", "凤", "翠", "珍", "娥", "菊", "容", "群", "素", "蓉", "慧", "婷", "雪", "洁", "琳", "倩",
    "佳", "欣", "悦", "颖", "莹", "媛", "春", "桂", "香", "花", "云", "月", "巧", "碧", "淑", "晓",
)

PUBLIC_TITLES_RURAL = ("保洁员", "护林员", "护路员", "水管员", "治安协管员", "公共服务协管员")
PUBLIC_TITLES_RURAL_W = (30, 22, 18, 10, 10, 10)
PUBLIC_TITLES_URBAN = ("保洁员", "治安协管员", "公共服务协管员")
PUBLIC_TITLES_URBAN_W = (40, 25, 35)

WORKSHOP_INDUSTRIES = ("服装加工", "电子组装", "脐橙分拣", "农产品加工", "竹编", "鞋帽加工", "中药材加工",
                       "箱包加工", "手工编织", "茶叶加工")
FIRM_WORDS = ("兴农", "富民", "夔乡", "惠民", "金橙", "绿源", "青峰", "恒达", "长盛", "瑞丰", "鑫源", "红橙",
              "山水", "天成", "同心", "众诚", "宏发", "锦绣", "顺达", "嘉禾", "益民", "华泰", "永兴", "康源")
BUSINESS_TRADES = ("商贸", "建材", "餐饮", "农业开发", "物流", "建筑工程", "养殖", "电子商务",
                   "劳务", "旅游开发")
SHOP_KINDS = ("便利店", "农家乐", "副食店", "理发店", "五金店", "小吃店", "农资店", "修理铺")
MIGRANT_PLACES = ("广东省东莞市", "广东省深圳市", "广东省佛山市", "浙江省宁波市", "浙江省温州市",
                  "江苏省苏州市", "福建省泉州市", "上海市松江区", "重庆市渝北区", "重庆市九龙坡区",
                  "重庆市万州区", "四川省成都市", "新疆维吾尔自治区昌吉州")
COUNTY_UNITS = ("奉节县人力资源和社会保障局", "奉节县农业农村委员会", "奉节县乡村振兴局", "奉节县民政局",
                "奉节县财政局", "奉节县交通运输委员会", "奉节县林业局", "奉节县水利局")

WORKABLE = frozenset({"普通劳动力", "弱劳动力", "半劳动力"})
POVERTY = frozenset({"脱贫人口", "防止返贫监测对象"})
# Vocabulary order (ledger-format.md) for writing categories.
CATEGORY_ORDER = ("脱贫人口", "防止返贫监测对象", "低保对象", "低保边缘家庭成员", "特困人员",
                  "零就业家庭成员", "残疾人", "大龄失业人员", "长期失业人员", "登记失业人员",
                  "离校未就业高校毕业生", "退役军人", "刑满释放人员", "戒毒康复人员", "退捕渔民",
                  "化解过剩产能企业职工")

SUBSIDY_FEN = 50_000  # 500 yuan a person a month (rules.md subsidy_per_person)
