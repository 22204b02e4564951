"""Writes the bundled sample (sample/train.json, sample/dev.json) in the WebQA / SogouQA JSON format.

The text is written for this project: fictional people, towns and companies described by
sentence templates composed here, so nothing is copied from a public corpus. Each question has
1-4 passages; a passage's "answer" is empty when it does not contain the answer (small talk or
another fact about the same entity), and about a fifth of the questions have no answer in any
passage. Dev entities never occur in train, so dev questions are held out.

Learnable by a tiny model trained from scratch in about a minute: every attribute takes its
values from a short fixed list, and the first character of a value occurs nowhere else in the
data, so "which value of the asked kind does this passage hold" can be learnt from the tokens
themselves; copying arbitrary spans needs a pretrained model and more time. The value lists
are checked below.

    python -m nlpkit.tasks.reading.make_sample [OUT_DIR]
"""
import json
import random
import sys
from pathlib import Path

CITIES = ["杭州市", "苏州市", "洛阳市", "桂林市", "遵义市", "拉萨市", "哈尔滨市", "厦门市", "绍兴市", "昆明市"]
# (topic, attribute) -> (answer, gold alternatives joined by "|")
VALUES = {
    ("person", "birthplace"): [(c, c) for c in CITIES],
    ("person", "job"): [(j, j) for j in ["裁缝", "兽医", "摄影师", "律师", "厨师", "记者", "翻译", "飞行员", "消防员", "导游"]],
    ("person", "school"): [(s, s) for s in ["蓝田师范学院", "紫金理工大学", "翠湖医科大学", "碧江农业大学", "赤城艺术学院",
                                             "橙园外国语学院", "琥珀工业大学", "靛山大学"]],
    ("person", "book"): [(b, f"{b}|《{b}》") for b in ["霜降纪事", "萤火之歌", "潮汐往事", "锦瑟年华", "苇岸笔记", "蝉鸣十年",
                                                     "驿路来信", "鲸落深处"]],
    ("town", "province"): [(p, p) for p in ["浙江省", "福建省", "贵州省", "广东省", "甘肃省", "吉林省", "辽宁省", "陕西省"]],
    ("town", "specialty"): [(s, s) for s in ["蜜橘", "黑茶", "腊肉", "米粉", "刺绣", "板栗", "豆腐乳", "油纸伞", "剪纸", "陶罐"]],
    ("town", "river"): [(r, r) for r in ["汾河", "沅江", "澧水", "涪江", "沁河", "渭河", "洮河", "湘江"]],
    ("town", "mountain"): [(m, m) for m in ["峨眉山", "嵩山", "崂山", "岱山", "衡山", "九华山", "庐山", "祁连山"]],
    ("town", "population"): [(f"{n}万人", f"{n}万人|{n}万") for n in [12, 15, 18, 23, 27, 31, 36, 42]],
    ("company", "founder"): [(f, f) for f in ["欧阳晓", "诸葛岚", "夏侯远", "皇甫瑞", "慕容雪", "令狐峰", "端木青", "申屠杰"]],
    ("company", "year"): [(str(y), f"{y}年|{y}") for y in [1985, 1988, 1991, 1994, 1997, 2001, 2006, 2012]],
    ("company", "hq"): [(c, c) for c in CITIES],
    ("company", "product"): [(p, p) for p in ["净水器", "砚台", "扫地机", "帐篷", "渔具", "手工皂", "太阳能板", "运动鞋"]],
    ("company", "staff"): [(f"{n}人", f"{n}人|{n}名") for n in [240, 360, 520, 680, 750, 860, 930, 1200]],
}
# characters that start a value: kept out of names, templates and fillers
RESERVED = {answer[0] for values in VALUES.values() for answer, _ in values}


def _free(chars):
    return "".join(c for c in chars if c not in RESERVED)


SURNAMES = _free("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏吕丁沈"
                 "姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万严武戴孔汤")
GIVEN = _free("明华建国平志文军伟强磊洋勇艳杰娟涛斌超秀英丽敏静芳玲兰晓红波辉刚健鹏宇浩思雨欣怡梓涵轩曦佳琪嘉俊"
              "婷雪梅海峰云龙春燕秋菊青松柏竹川岚翔瑞祥凯博远航立诚德馨悦舒蕾薇")
PLACE_A = _free("青白红金银石柳桃梅松竹云雾清明安平长永新东西南北上下小龙凤鹤鹿马牛羊花枫杏橘荷兰玉宝")
PLACE_B = _free("溪湾岭坪川塘岗庄坝林峰洲湖泉桥岩口源田谷滩港")
INDUSTRY = ["科技", "食品", "电子", "机械", "纺织", "材料", "物流", "能源", "医药", "家居"]
COMPANY_B = _free("达通信华丰盛顺兴隆和泰源昌恒利鑫航")
DIRECTIONS = ["东", "西", "南", "北", "中"]

# sentences that answer nothing; {e} is the subject (the entity's name or a pronoun)
FILLERS = {
    "person": ["{e}平时喜欢读书和跑步", "朋友们都说{e}待人热情", "闲暇时{e}常去郊外散步", "{e}每年都会回老家看望父母",
               "{e}养了一只白色的小猫", "{e}对音乐很感兴趣", "同事们都很尊敬{e}", "{e}最大的愿望是周游世界"],
    "town": ["{e}气候温和，四季分明", "近年来{e}吸引了不少游客", "{e}的老街保存得相当完整", "每到春天{e}开满了杜鹃花",
             "{e}的居民热情好客", "{e}每年秋天都会举办庙会", "{e}中心有一座百年老桥", "清晨时分{e}常常云雾缭绕"],
    "company": ["{e}多次获得行业奖项", "{e}十分重视员工培训", "{e}的产品远销海外", "近几年{e}的营收稳步增长",
                "{e}每年都会组织员工旅行", "{e}设有专门的研发中心", "{e}积极参与公益活动", "{e}的口号是诚信与创新"],
}
SUBJECT = {"person": ["他", "{e}"], "town": ["该镇", "这里", "{e}"], "company": ["该公司", "公司", "{e}"]}

# topic -> attribute -> (passage phrasings, question phrasings); {e} entity, {a} answer, {d} direction
ATTRIBUTES = {
    "person": {
        "birthplace": (["{e}出生于{a}", "{e}的家乡是{a}"], ["{e}出生在哪里？", "{e}的家乡是哪里？", "{e}是哪里人？"]),
        "job": (["{e}是一名{a}", "{e}的职业是{a}"], ["{e}是做什么工作的？", "{e}的职业是什么？"]),
        "school": (["{e}毕业于{a}", "{e}曾就读于{a}"], ["{e}毕业于哪所学校？", "{e}是哪所学校毕业的？"]),
        "book": (["{e}的代表作是小说《{a}》", "{e}写过一本名为《{a}》的小说"], ["{e}的代表作是什么？", "{e}写过哪本小说？"]),
    },
    "town": {
        "province": (["{e}位于{a}{d}部", "{e}地处{a}{d}部"], ["{e}位于哪个省？", "{e}在哪个省份？"]),
        "specialty": (["{e}以{a}闻名", "{e}的特产是{a}"], ["{e}的特产是什么？", "{e}以什么闻名？"]),
        "river": (["{a}从{e}穿城而过", "流经{e}的河流是{a}"], ["流经{e}的是哪条河？", "哪条河流经{e}？"]),
        "population": (["{e}常住人口约{a}", "{e}的常住人口大约有{a}"], ["{e}有多少人口？", "{e}的常住人口有多少？"]),
        "mountain": (["{e}北面是{a}", "{e}背靠{a}"], ["{e}北面是哪座山？", "{e}背靠哪座山？"]),
    },
    "company": {
        "founder": (["{e}由{a}创办", "{e}的创始人是{a}"], ["{e}的创始人是谁？", "谁创办了{e}？"]),
        "year": (["{e}成立于{a}年", "{e}创立于{a}年"], ["{e}是哪一年成立的？", "{e}成立于哪一年？"]),
        "hq": (["{e}总部设在{a}", "{e}的总部位于{a}"], ["{e}的总部在哪里？", "{e}总部设在哪个城市？"]),
        "product": (["{e}主要生产{a}", "{e}的主打产品是{a}"], ["{e}主要生产什么？", "{e}的主打产品是什么？"]),
        "staff": (["{e}现有员工{a}", "{e}目前共有员工{a}"], ["{e}有多少员工？", "{e}的员工有多少人？"]),
    },
}
KINDS = ["single"] * 35 + ["multi"] * 45 + ["none"] * 20


class Names:
    """Unique fictional names; `used` is shared so dev entities never appear in train."""

    def __init__(self, rng):
        self.rng, self.used = rng, set()

    def _unique(self, make):
        for _ in range(1000):
            name = make()
            if name not in self.used:
                self.used.add(name)
                return name
        raise RuntimeError("name pool exhausted")

    def make(self, topic):
        r = self.rng
        if topic == "person":
            return self._unique(lambda: r.choice(SURNAMES) + "".join(r.sample(GIVEN, r.choice([1, 2]))))
        if topic == "town":
            return self._unique(lambda: r.choice(PLACE_A) + r.choice(["", r.choice(PLACE_A)]) + r.choice(PLACE_B) + "镇")
        return self._unique(lambda: r.choice(PLACE_A) + r.choice(COMPANY_B) + r.choice(INDUSTRY) + "公司")


def make_entity(rng, names, topic):
    facts = {attr: rng.choice(VALUES[topic, attr]) for attr in ATTRIBUTES[topic]}
    return {"topic": topic, "name": names.make(topic), "facts": facts, "dir": rng.choice(DIRECTIONS)}


def passage(rng, entity, attrs, fillers=(0, 2)):
    """Sentences about `attrs` of the entity and some that say nothing, the name first, then pronouns."""
    topic = entity["topic"]
    sentences = [rng.choice(ATTRIBUTES[topic][attr][0]) for attr in attrs]
    sentences += rng.sample(FILLERS[topic], rng.randint(*fillers))
    rng.shuffle(sentences)
    text = ""
    for i, template in enumerate(sentences):
        subject = entity["name"] if i == 0 else rng.choice(SUBJECT[topic]).format(e=entity["name"])
        attr = next((a for a in attrs if template in ATTRIBUTES[topic][a][0]), None)
        value = entity["facts"][attr][0] if attr else ""
        joint = "" if i == 0 else rng.choice(["，", "。", "。", "；"])
        text += joint + template.format(e=subject, a=value, d=entity["dir"])
    return text + "。"


def question(rng, names, qid, kind):
    """kind: 'single' one answering passage, 'multi' several passages, 'none' no passage answers."""
    topic = rng.choice(list(ATTRIBUTES))
    entity = make_entity(rng, names, topic)
    attrs = list(ATTRIBUTES[topic])
    attr = rng.choice(attrs)
    others = [a for a in attrs if a != attr]
    q = rng.choice(ATTRIBUTES[topic][attr][1]).format(e=entity["name"])
    answer, gold = entity["facts"][attr]

    def positive():  # the fact, sometimes next to another fact the question does not ask for
        extra = rng.sample(others, 1) if rng.random() < 0.35 else []
        return {"passage": passage(rng, entity, [attr] + extra, (0, 1)), "answer": gold}

    def negative():  # mostly small talk about the entity, sometimes another of its facts
        if rng.random() < 0.9:
            return {"passage": passage(rng, entity, [], (1, 2)), "answer": ""}
        return {"passage": passage(rng, entity, rng.sample(others, 1), (0, 1)), "answer": ""}

    if kind == "single":
        items = [positive()]
    elif kind == "multi":
        items = [positive() for _ in range(rng.randint(1, 2))] + [negative() for _ in range(rng.randint(1, 2))]
        rng.shuffle(items)
    else:
        items = [negative() for _ in range(rng.randint(1, 3))]
    assert all((answer in item["passage"]) == bool(item["answer"]) for item in items)
    return {"id": qid, "question": q, "passages": items}


def check(records):
    """Value-starting characters occur only where a value starts."""
    values = sorted({a for vs in VALUES.values() for a, _ in vs}, key=len, reverse=True)
    for r in records:
        texts = [r["question"]] + [p["passage"] for p in r["passages"]]
        for text in texts:
            for v in values:
                text = text.replace(v, "")
            assert not RESERVED & set(text), (r["id"], text)


def chars(record):
    return {c for p in record["passages"] for c in p["passage"] + record["question"]}


def dump(path, records):
    """A JSON list with one question per line (compact, and errors can name the line)."""
    lines = ",\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    path.write_text(f"[\n{lines}\n]\n", encoding="utf-8")


def main(out_dir=None, n_train=1500, n_dev=120, seed=20240521):
    out = Path(out_dir or Path(__file__).parent / "sample")
    rng = random.Random(seed)
    names = Names(rng)
    train = [question(rng, names, f"train-{i:04d}", rng.choice(KINDS)) for i in range(n_train)]
    seen = set().union(*map(chars, train))
    dev = []
    while len(dev) < n_dev:  # held-out entities, but no character the tiny vocabulary never trained
        d = question(rng, names, f"dev-{len(dev):04d}", rng.choice(KINDS))
        if chars(d) <= seen:
            dev.append(d)
    check(train + dev)
    out.mkdir(parents=True, exist_ok=True)
    dump(out / "train.json", train)
    dump(out / "dev.json", dev)


if __name__ == "__main__":
    main(*sys.argv[1:2])
