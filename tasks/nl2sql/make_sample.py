"""Regenerates the bundled nl2sql sample (TableQA format): `python tasks/nl2sql/make_sample.py`.

The tables are invented for this project (fictional films, phones, funds, players...; rough figures
for cities and universities). Questions are written from phrase patterns with a seeded RNG, so the
files are reproducible. Two tables appear only in dev, to show that headers are read, not memorised.
Some questions name a value by a short form (北大 for 北京大学, 广东 for 广东省): the gold value is
the cell, so training must find the closest question n-gram and prediction must snap back to the cell.
"""
import hashlib
import json
import random
from pathlib import Path

SAMPLE = Path(__file__).parent / "sample"

# name, title, entity noun, [(header, type, spoken name, unit)], rows, {cell: short form}
TABLES = [
    ("城市", "2023年部分城市经济数据", "城市",
     [("城市", "text", "城市", ""), ("省份", "text", "省份", ""), ("常住人口(万人)", "real", "常住人口", "万人"),
      ("户籍人口(万人)", "real", "户籍人口", "万人"), ("地区生产总值(亿元)", "real", "生产总值", "亿元"),
      ("面积(平方公里)", "real", "面积", "平方公里")],
     [["杭州", "浙江省", 1237.6, 855.2, 20059, 16850], ["宁波", "浙江省", 969.7, 622.4, 16452, 9816],
      ["温州", "浙江省", 976.4, 834.1, 8730, 12110], ["南京", "江苏省", 954.7, 740.9, 17421, 6587],
      ["苏州", "江苏省", 1291.1, 775.6, 24653, 8657], ["无锡", "江苏省", 749.1, 518.3, 15456, 4627],
      ["广州", "广东省", 1882.7, 1034.9, 30355, 7434], ["深圳", "广东省", 1779.0, 606.3, 34606, 1997],
      ["佛山", "广东省", 961.3, 486.5, 13276, 3798], ["成都", "四川省", 2140.3, 1598.2, 22074, 14335],
      ["绵阳", "四川省", 489.1, 526.7, 3951, 20249], ["武汉", "湖北省", 1377.4, 944.6, 20011, 8569],
      ["宜昌", "湖北省", 391.8, 389.2, 5756, 21230]],
     {"浙江省": "浙江", "江苏省": "江苏", "广东省": "广东", "四川省": "四川", "湖北省": "湖北"}),
    ("电影", "国产电影票房榜（节选）", "电影",
     [("电影名称", "text", "电影", ""), ("导演", "text", "导演", ""), ("电影类型", "text", "类型", ""),
      ("票房(亿元)", "real", "票房", "亿元"), ("评分", "real", "评分", "分"), ("上映年份", "real", "上映年份", "年")],
     [["长河落日", "李明远", "剧情", 12.6, 7.8, 2021], ["星海迷航", "陈思远", "科幻", 25.3, 7.2, 2023],
      ["小城之春日", "王佳怡", "爱情", 3.4, 6.5, 2022], ["疾风营救", "赵志强", "动作", 18.9, 6.9, 2023],
      ["熊猫归途", "刘晓峰", "动画", 9.7, 8.3, 2022], ["雾中侦探", "孙浩然", "悬疑", 6.1, 7.5, 2021],
      ["笑到最后", "周一鸣", "喜剧", 15.2, 6.1, 2023], ["山那边的学校", "吴静", "剧情", 2.8, 8.6, 2020],
      ["深海巨鲸", "郑凯", "科幻", 31.5, 7.0, 2022], ["江湖夜雨", "何宇", "武侠", 4.5, 6.8, 2020],
      ["追光的少年", "林娜", "剧情", 7.9, 7.9, 2023], ["笑傲厨房", "周一鸣", "喜剧", 11.3, 5.9, 2021]],
     {}),
    ("手机", "春季手机新品参数", "手机",
     [("型号", "text", "型号", ""), ("品牌", "text", "品牌", ""), ("售价(元)", "real", "售价", "元"),
      ("屏幕尺寸(英寸)", "real", "屏幕尺寸", "英寸"), ("电池容量(毫安时)", "real", "电池容量", "毫安时")],
     [["云帆S10", "云帆", 3999, 6.7, 5000], ["云帆S10 Pro", "云帆", 4999, 6.8, 5200],
      ["云帆A3", "云帆", 1299, 6.5, 6000], ["极光Note 8", "极光", 2499, 6.6, 5500],
      ["极光Mini", "极光", 1899, 6.1, 4300], ["极光Ultra", "极光", 6999, 6.9, 5400],
      ["蓝鲸M2", "蓝鲸", 999, 6.4, 5000], ["蓝鲸M2 Plus", "蓝鲸", 1599, 6.7, 6500],
      ["火山GT", "火山", 3299, 6.8, 5800], ["火山Lite", "火山", 1499, 6.5, 5000],
      ["火山Fold", "火山", 8999, 7.8, 4800]],
     {}),
    ("高校", "部分高校基本信息", "学校",
     [("学校名称", "text", "学校", ""), ("所在城市", "text", "所在城市", ""), ("办学类型", "text", "办学类型", ""),
      ("在校生人数", "real", "在校生人数", "人"), ("研究生人数", "real", "研究生人数", "人"),
      ("建校年份", "real", "建校年份", "年")],
     [["北京大学", "北京", "综合", 46000, 30000, 1898], ["清华大学", "北京", "理工", 50000, 34000, 1911],
      ["北京师范大学", "北京", "师范", 31000, 16000, 1902], ["复旦大学", "上海", "综合", 37000, 22000, 1905],
      ["华东师范大学", "上海", "师范", 39000, 19000, 1951], ["同济大学", "上海", "理工", 38000, 20000, 1907],
      ["浙江大学", "杭州", "综合", 63000, 36000, 1897], ["南京大学", "南京", "综合", 36000, 21000, 1902],
      ["武汉大学", "武汉", "综合", 59000, 25000, 1893], ["华中科技大学", "武汉", "理工", 58000, 27000, 1952],
      ["中山大学", "广州", "综合", 56000, 26000, 1924], ["华南师范大学", "广州", "师范", 47000, 15000, 1933]],
     {"北京大学": "北大", "清华大学": "清华", "复旦大学": "复旦", "浙江大学": "浙大", "华东师范大学": "华东师大",
      "北京师范大学": "北师大", "武汉大学": "武大", "华中科技大学": "华科", "中山大学": "中大"}),
    ("图书", "出版社新书目录", "书",
     [("书名", "text", "书名", ""), ("作者", "text", "作者", ""), ("出版社", "text", "出版社", ""),
      ("定价(元)", "real", "定价", "元"), ("页数", "real", "页数", "页")],
     [["山海之间", "林清远", "人民文学出版社", 45, 320], ["数据之美", "张文博", "电子工业出版社", 89, 456],
      ["晚风与灯", "苏小禾", "译林出版社", 39.8, 256], ["算法图解入门", "王立新", "人民邮电出版社", 69, 380],
      ["古镇旧事", "陈默", "人民文学出版社", 52, 298], ["深度学习实战", "刘洋", "电子工业出版社", 128, 612],
      ["城南花开", "苏小禾", "译林出版社", 42, 240], ["宇宙的尺度", "赵天宇", "科学出版社", 76, 410],
      ["植物的秘密", "孙雨", "科学出版社", 58, 276], ["一个人的远行", "林清远", "人民文学出版社", 48, 302],
      ["程序员的数学", "王立新", "人民邮电出版社", 79, 350]],
     {"人民文学出版社": "人民文学", "电子工业出版社": "电子工业", "人民邮电出版社": "人民邮电", "译林出版社": "译林"}),
    ("基金", "2023年基金业绩一览", "基金",
     [("基金名称", "text", "基金名称", ""), ("基金公司", "text", "基金公司", ""), ("基金类型", "text", "基金类型", ""),
      ("近一年收益率(%)", "real", "近一年收益率", "%"), ("基金规模(亿元)", "real", "基金规模", "亿元")],
     [["稳健增长混合A", "华盛基金", "混合型", 8.6, 45.2], ["科技先锋股票", "华盛基金", "股票型", -12.4, 88.7],
      ["安心纯债C", "长青基金", "债券型", 3.9, 120.5], ["消费升级混合", "长青基金", "混合型", -5.2, 36.8],
      ["新能源主题", "远航基金", "股票型", 15.3, 64.1], ["红利价值", "远航基金", "股票型", 6.7, 22.9],
      ["短债增利", "长青基金", "债券型", 2.8, 75.6], ["医药健康混合", "东方远景基金", "混合型", -8.9, 51.3],
      ["货币宝", "东方远景基金", "货币型", 2.1, 310.4], ["量化对冲", "华盛基金", "混合型", 4.4, 18.2]],
     {"华盛基金": "华盛", "长青基金": "长青", "远航基金": "远航", "东方远景基金": "东方远景"}),
    ("楼盘", "本月新开楼盘信息", "楼盘",
     [("楼盘名称", "text", "楼盘", ""), ("所在区域", "text", "区域", ""), ("开发商", "text", "开发商", ""),
      ("楼盘均价(元/平方米)", "real", "均价", "元"), ("在售套数", "real", "在售套数", "套")],
     [["翠湖天地", "滨江区", "绿洲地产", 52000, 120], ["锦绣华庭", "余杭区", "远景置业", 31000, 260],
      ["云栖山居", "西湖区", "绿洲地产", 68000, 80], ["江南名府", "滨江区", "华庭集团", 49000, 150],
      ["未来之城", "余杭区", "金域地产", 28000, 420], ["和园", "拱墅区", "远景置业", 45000, 95],
      ["星河湾畔", "萧山区", "金域地产", 26000, 380], ["紫金府", "西湖区", "华庭集团", 61000, 60],
      ["运河明珠", "拱墅区", "远景置业", 39000, 210], ["湘湖一号", "萧山区", "绿洲地产", 33000, 180]],
     {"滨江区": "滨江", "余杭区": "余杭", "西湖区": "西湖", "拱墅区": "拱墅", "萧山区": "萧山"}),
    ("航班", "上海出发航班时刻", "航班",
     [("航班号", "text", "航班号", ""), ("航空公司", "text", "航空公司", ""), ("目的地", "text", "目的地", ""),
      ("飞行时长(分钟)", "real", "飞行时长", "分钟"), ("经济舱票价(元)", "real", "经济舱票价", "元")],
     [["HX1021", "祥云航空", "北京", 135, 980], ["HX1087", "祥云航空", "成都", 200, 1260],
      ["QL3302", "青鸾航空", "广州", 150, 860], ["QL3318", "青鸾航空", "北京", 140, 1050],
      ["DP5501", "东鹏航空", "昆明", 235, 1380], ["DP5529", "东鹏航空", "西安", 155, 720],
      ["HX1233", "祥云航空", "深圳", 145, 890], ["QL3350", "青鸾航空", "重庆", 170, 940],
      ["DP5570", "东鹏航空", "哈尔滨", 210, 1150], ["HX1299", "祥云航空", "三亚", 190, 1520]],
     {"祥云航空": "祥云", "青鸾航空": "青鸾", "东鹏航空": "东鹏"}),
    ("球员", "篮球联赛球员数据", "球员",
     [("球员姓名", "text", "球员", ""), ("所属球队", "text", "球队", ""), ("球员位置", "text", "位置", ""),
      ("年龄", "real", "年龄", "岁"), ("场均得分", "real", "场均得分", "分"), ("场均篮板", "real", "场均篮板", "个")],
     [["张伟杰", "北海雄鹰", "后卫", 24, 18.6, 3.2], ["李浩宇", "北海雄鹰", "前锋", 28, 12.3, 6.8],
      ["王子涵", "南山猛虎", "中锋", 31, 9.8, 10.5], ["刘一凡", "南山猛虎", "后卫", 22, 21.4, 4.1],
      ["陈嘉豪", "东岭飞龙", "前锋", 26, 15.7, 7.3], ["杨天翔", "东岭飞龙", "中锋", 29, 11.2, 9.6],
      ["赵明轩", "西川骏马", "后卫", 33, 8.5, 2.7], ["黄子健", "西川骏马", "前锋", 25, 16.9, 5.9],
      ["周博文", "北海雄鹰", "中锋", 27, 10.4, 11.8], ["吴俊杰", "南山猛虎", "前锋", 30, 13.6, 6.2]],
     {}),
    ("餐厅", "商圈餐厅点评", "餐厅",
     [("餐厅名称", "text", "餐厅", ""), ("菜系", "text", "菜系", ""), ("所在商圈", "text", "商圈", ""),
      ("人均消费(元)", "real", "人均消费", "元"), ("评分", "real", "评分", "分")],
     [["蜀香阁", "川菜", "春熙路", 88, 4.6], ["老灶台火锅", "火锅", "春熙路", 120, 4.8],
      ["粤味轩", "粤菜", "天河城", 150, 4.5], ["湘里人家", "湘菜", "五一广场", 76, 4.3],
      ["江南小馆", "本帮菜", "南京路", 110, 4.4], ["一碗面", "面食", "五一广场", 32, 4.1],
      ["海港茶餐厅", "粤菜", "天河城", 68, 4.2], ["麻辣诱惑", "川菜", "南京路", 95, 4.0],
      ["山城老火锅", "火锅", "解放碑", 105, 4.7], ["外婆家常菜", "本帮菜", "南京路", 70, 4.5]],
     {}),
    ("汽车", "新能源车型参数", "车型",
     [("车型", "text", "车型", ""), ("厂商", "text", "厂商", ""), ("车身级别", "text", "级别", ""),
      ("指导价(万元)", "real", "指导价", "万元"), ("续航里程(公里)", "real", "续航里程", "公里")],
     [["启明星S7", "启明汽车", "中型车", 22.98, 650], ["启明星Q5", "启明汽车", "紧凑型SUV", 16.58, 520],
      ["蓝途E3", "蓝途汽车", "小型车", 9.98, 405], ["蓝途E9", "蓝途汽车", "大型SUV", 35.8, 700],
      ["天行T1", "天行汽车", "紧凑型车", 12.68, 480], ["天行T8", "天行汽车", "中大型SUV", 29.98, 610],
      ["驰风X", "驰风汽车", "中型SUV", 25.5, 560], ["驰风Mini", "驰风汽车", "微型车", 5.99, 300],
      ["启明星L9", "启明汽车", "中大型车", 32.8, 705]],
     {"启明汽车": "启明", "蓝途汽车": "蓝途", "天行汽车": "天行", "驰风汽车": "驰风"}),
    # dev only
    ("蔬果", "批发市场蔬果价格", "品种",
     [("品名", "text", "品名", ""), ("产地", "text", "产地", ""), ("等级", "text", "等级", ""),
      ("批发价(元/公斤)", "real", "批发价", "元"), ("日成交量(吨)", "real", "日成交量", "吨")],
     [["红富士苹果", "山东", "一级", 6.8, 35], ["砂糖橘", "广西", "特级", 5.2, 48], ["西红柿", "山东", "一级", 3.6, 60],
      ["黄瓜", "河北", "二级", 2.4, 72], ["猕猴桃", "陕西", "特级", 9.5, 18], ["香蕉", "海南", "一级", 4.1, 55],
      ["大白菜", "河北", "二级", 1.2, 120], ["葡萄", "新疆", "特级", 12.6, 22], ["土豆", "甘肃", "一级", 1.8, 90],
      ["芒果", "海南", "特级", 8.3, 26]],
     {}),
    ("景区", "热门景区门票信息", "景区",
     [("景区名称", "text", "景区", ""), ("所在省份", "text", "省份", ""), ("景区等级", "text", "等级", ""),
      ("门票价格(元)", "real", "门票价格", "元"), ("年接待游客(万人次)", "real", "年接待游客", "万人次")],
     [["黄山风景区", "安徽省", "5A", 190, 450], ["九寨沟", "四川省", "5A", 169, 510], ["西湖", "浙江省", "5A", 0, 2800],
      ["乌镇", "浙江省", "5A", 110, 910], ["峨眉山", "四川省", "5A", 160, 380], ["鼓浪屿", "福建省", "5A", 35, 1000],
      ["天目山", "浙江省", "4A", 100, 120], ["太姥山", "福建省", "4A", 90, 150], ["天台山", "浙江省", "4A", 85, 200],
      ["光雾山", "四川省", "4A", 100, 90]],
     {"安徽省": "安徽", "四川省": "四川", "浙江省": "浙江", "福建省": "福建"}),
]
DEV_ONLY = {"蔬果", "景区"}

GT, LT, EQ, NE = 0, 1, 2, 3
AVG, MAX, MIN, COUNT, SUM = 1, 2, 3, 4, 5
PHRASES = {
    ("text", EQ): ["{C}为{V}", "{C}是{V}", "{V}", "{V}", "{C}等于{V}"],
    ("text", NE): ["{C}不是{V}", "{C}不为{V}", "{C}不等于{V}"],
    ("real", GT): ["{C}大于{V}{U}", "{C}超过{V}{U}", "{C}高于{V}{U}", "{C}在{V}{U}以上", "{C}多于{V}{U}"],
    ("real", LT): ["{C}小于{V}{U}", "{C}低于{V}{U}", "{C}不到{V}{U}", "{C}在{V}{U}以下", "{C}少于{V}{U}"],
    ("real", EQ): ["{C}等于{V}{U}", "{C}为{V}{U}", "{C}正好是{V}{U}"],
    ("real", NE): ["{C}不等于{V}{U}", "{C}不是{V}{U}"],
}
AND_WORDS, OR_WORDS = ["并且", "且", "而且", "同时"], ["或者", "或", "或是"]
PLAIN = ["{W}的{S}是什么", "{W}的{S}有哪些", "请问{W}的{S}是什么", "查询{W}的{S}", "{W}的{S}都有哪些",
         "帮我查一下{W}的{S}", "列出{W}的{S}"]
PLAIN_REAL = ["{W}的{S}是多少", "请问{W}的{S}是多少", "{W}的{S}分别是多少", "查一下{W}的{S}"]
KEY = ["哪些{K}{W}", "{W}的{K}有哪些", "{W}的都有哪些{K}", "有哪些{K}{W}"]
AGG_FRAMES = {
    AVG: ["{W}的{S}平均是多少", "{W}的平均{S}是多少", "{W}的{K}平均{S}是多少"],
    MAX: ["{W}的{S}最高是多少", "{W}的最大{S}是多少", "{W}的{K}中{S}最大值是多少"],
    MIN: ["{W}的{S}最低是多少", "{W}的最小{S}是多少", "{W}的{K}中{S}最小值是多少"],
    SUM: ["{W}的{S}总共是多少", "{W}的{S}加起来有多少", "{W}的{S}总和是多少"],
    COUNT: ["{W}的{K}有几个", "{W}的{K}一共有多少个", "{W}的{K}有多少"],
}
AGG_ALL = {
    AVG: ["所有{K}的平均{S}是多少", "{S}的平均值是多少"], MAX: ["{S}最高是多少", "最大的{S}是多少"],
    MIN: ["{S}最低是多少", "最小的{S}是多少"], SUM: ["所有{K}的{S}加起来是多少", "{S}的总和是多少"],
    COUNT: ["一共有多少个{K}", "表里有几个{K}"],
}


def nice(x):
    """A round threshold: 2-3 significant digits for large numbers, one decimal for small ones."""
    if abs(x) < 10:
        return round(x, 1)
    digits = len(str(int(abs(x))))
    return round(x, (3 if digits >= 4 else 2) - digits)


def num(x):
    return str(int(x)) if float(x).is_integer() else str(round(x, 2))


class Gen:
    def __init__(self, spec, rng):
        self.name, self.title, self.entity, cols, self.rows, self.alias = spec
        self.header, self.types = [c[0] for c in cols], [c[1] for c in cols]
        self.spoken, self.units = [c[2] for c in cols], [c[3] for c in cols]
        self.rng = rng
        self.text_cols = [j for j, k in enumerate(self.types) if k == "text"]
        self.real_cols = [j for j, k in enumerate(self.types) if k == "real"]

    def table(self):
        tid = hashlib.md5(self.name.encode()).hexdigest()
        return {"id": tid, "name": "Table_" + tid, "title": self.title, "header": self.header,
                "types": self.types, "rows": self.rows}

    def cond(self, col, op=None):
        """(phrase, [col, op, value]) for a condition on col."""
        r = self.rng
        cells = [row[col] for row in self.rows]
        if self.types[col] == "text":
            op = r.choice([EQ, EQ, EQ, NE]) if op is None else op
            value = r.choice(cells)
            spoken = self.alias.get(value, value) if r.random() < 0.4 else value
            if op == NE:
                spoken = value
        else:
            op = r.choice([GT, LT, GT, LT, EQ, NE]) if op is None else op
            if op in (EQ, NE):
                value = num(r.choice(cells))
            else:
                lo, hi = sorted(cells)[1], sorted(cells)[-2]
                value = num(nice(r.uniform(lo, hi)))
            spoken = value
        pattern = r.choice(PHRASES[(self.types[col], op)])
        unit = self.units[col] if r.random() < 0.5 else ""
        phrase = pattern.format(C=self.spoken[col], V=spoken, U=unit)
        return phrase, [col, op, value]

    def where(self, avoid):
        """A condition phrase with 0, 1 or 2 conditions (the connector decided here)."""
        r = self.rng
        cols = [j for j in range(len(self.header)) if j not in avoid]
        kind = r.choices(["one", "and", "or", "or_same"], [5, 3, 1, 1])[0]
        c1 = r.choice(cols)
        p1, k1 = self.cond(c1)
        if kind == "one":
            return p1, 0, [k1]
        if kind == "or_same":
            col = r.choice([j for j in self.text_cols if j not in avoid] or [c1])
            values = r.sample(sorted({row[col] for row in self.rows}), 2)
            word = r.choice(OR_WORDS)
            spoken = [self.alias.get(v, v) if r.random() < 0.3 else v for v in values]
            phrase = f"{self.spoken[col]}{r.choice(['是', '为'])}{spoken[0]}{word}{spoken[1]}"
            return phrase, 2, [[col, EQ, v] for v in values]
        c2 = r.choice([j for j in cols if j != c1])
        p2, k2 = self.cond(c2)
        if kind == "and":
            joiner = "" if p1 == k1[2] or p1 == self.alias.get(k1[2]) else r.choice(AND_WORDS)
            return p1 + joiner + p2, 1, [k1, k2]
        return p1 + r.choice(OR_WORDS) + p2, 2, [k1, k2]

    def question(self):
        r = self.rng
        kind = r.choices(["plain", "key", "agg", "agg_all", "two"], [4, 3, 4, 1, 1.5])[0]
        key = self.spoken[0]
        if kind == "agg_all":
            agg = r.choice([AVG, MAX, MIN, SUM, COUNT])
            sel = 0 if agg == COUNT else r.choice(self.real_cols)
            q = r.choice(AGG_ALL[agg]).format(S=self.spoken[sel], K=self.entity)
            return q, {"sel": [sel], "agg": [agg], "cond_conn_op": 0, "conds": []}
        if kind == "key":
            w, conn, conds = self.where({0})
            q = r.choice(KEY).format(W=w, K=r.choice([key, self.entity]))
            return q, {"sel": [0], "agg": [0], "cond_conn_op": conn, "conds": conds}
        if kind == "agg":
            agg = r.choice([AVG, MAX, MIN, SUM, COUNT])
            sel = 0 if agg == COUNT else r.choice(self.real_cols)
            w, conn, conds = self.where({sel})
            q = r.choice(AGG_FRAMES[agg]).format(W=w, S=self.spoken[sel], K=self.entity)
            return q, {"sel": [sel], "agg": [agg], "cond_conn_op": conn, "conds": conds}
        if kind == "two":
            sel = sorted(r.sample(range(1, len(self.header)), 2))
            w, conn, conds = self.where(set(sel))
            s = r.choice(["和", "、", "以及"]).join(self.spoken[j] for j in sel)
            q = r.choice(["{W}的{S}分别是多少", "{W}的{S}是什么", "请列出{W}的{S}"]).format(W=w, S=s)
            return q, {"sel": sel, "agg": [0, 0], "cond_conn_op": conn, "conds": conds}
        sel = r.choice(range(len(self.header)))
        w, conn, conds = self.where({sel})
        frames = PLAIN_REAL if self.types[sel] == "real" else PLAIN
        q = r.choice(frames).format(W=w, S=self.spoken[sel])
        return q, {"sel": [sel], "agg": [0], "cond_conn_op": conn, "conds": conds}


def main(per_table=36, dev_per_table=8, dev_only_questions=26, seed=7):
    rng = random.Random(seed)
    train, dev, train_tables, dev_tables = [], [], [], []
    for spec in TABLES:
        g = Gen(spec, rng)
        table = g.table()
        dev_tables.append(table)
        wanted = dev_only_questions if g.name in DEV_ONLY else per_table + dev_per_table
        seen, items = set(), []
        while len(items) < wanted:
            q, sql = g.question()
            if q not in seen:
                seen.add(q)
                items.append({"table_id": table["id"], "question": q + rng.choice(["？", "", "？"]), "sql": sql})
        if g.name in DEV_ONLY:
            dev += items
        else:
            train_tables.append(table)
            train += items[:per_table]
            dev += items[per_table:]
    _check(train, train_tables, "train")
    _check(dev, dev_tables, "dev")
    rng.shuffle(train)
    _write(SAMPLE / "train.json", train)
    _write(SAMPLE / "dev.json", dev)
    _write(SAMPLE / "train.tables.json", train_tables)
    _write(SAMPLE / "dev.tables.json", dev_tables)
    print(f"train: {len(train)} questions on {len(train_tables)} tables; dev: {len(dev)} on {len(dev_tables)}")


def _check(items, tables, split):
    aggs = {a for it in items for a in it["sql"]["agg"]}
    ops = {c[1] for it in items for c in it["sql"]["conds"]}
    conns = {it["sql"]["cond_conn_op"] for it in items}
    if aggs != set(range(6)) or ops != set(range(4)) or conns != {0, 1, 2}:
        raise SystemExit(f"{split}: not every agg, op and connector occurs: {aggs}, {ops}, {conns}")


def _write(path, items):
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in items), encoding="utf-8")


if __name__ == "__main__":
    main()
