"""Writes the bundled sample (sample/train.txt, sample/dev.txt) in the character-per-line BIO format
of People's Daily / MSRA NER: `char TAG` lines, a blank line between sentences; types PER, LOC, ORG.

The sentences are original, composed for nlpkit from the clauses below with made-up person names
and real place and organisation names; several hold digits and Latin letters ("2008年", "IBM公司",
"iPhone", "CA1234"), which tokens merge. A sentence is one clause or two. The dev set measures
generalisation: its sentences join two clauses that no training sentence joins (15% of the ordered
pairs are held out), and most person names in it are new. Clauses and place or organisation names
are not held out: a randomly initialised model cannot know what an unseen word is.
Run `python -m nlpkit.tasks.ner.make_sample` to rebuild.
"""
import random
import re
from pathlib import Path

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华建志国庆海燕文博子涵晓东玉兰秀红春梅立新宏宇欣怡俊鹏飞雪"
PLACES = ["北京", "上海", "广州", "深圳", "南京", "杭州", "武汉", "成都", "西安", "重庆", "天津", "长沙", "青岛",
          "厦门", "昆明", "哈尔滨", "沈阳", "大连", "苏州", "郑州", "济南", "合肥", "福州", "南昌", "兰州", "拉萨",
          "新疆", "西藏", "云南", "四川", "广东", "浙江", "江苏", "山东", "河南", "湖北", "日本", "美国", "法国",
          "德国", "俄罗斯", "巴西", "埃及", "印度", "英国", "韩国", "长江", "黄河", "泰山", "香港", "澳门"]
ORGS = ["联合国", "世界卫生组织", "北京大学", "清华大学", "复旦大学", "中国科学院", "国家统计局", "新华社",
        "人民日报社", "中国银行", "华为公司", "阿里巴巴集团", "IBM公司", "NBA", "CCTV", "国际奥委会", "欧盟",
        "红十字会", "中央电视台", "上海交通大学", "浙江大学", "国务院", "外交部", "教育部", "中国足协",
        "世界银行", "国际货币基金组织", "中国石油", "南京大学", "武汉大学", "中国移动", "BBC", "联想集团",
        "海尔集团", "中国作家协会", "故宫博物院", "中国人民银行", "亚洲开发银行", "WTO", "人民医院"]
#: clauses with slots; a sentence is one clause or two joined by a comma
CLAUSES = [
    "{PER}在{LOC}会见了{ORG}代表团", "{ORG}发言人{PER}表示", "{YEAR}年{LOC}奥运会期间", "据{ORG}报道",
    "{PER}昨天抵达{LOC}", "{PER}毕业于{ORG}", "现在{LOC}工作", "{LOC}市民{PER}向{ORG}捐款{NUM}元",
    "{ORG}与{ORG}在{LOC}签署合作协议", "{PER}和{PER}一起去{LOC}旅游", "{ORG}在{LOC}召开了第{NUM}次会议",
    "记者{PER}从{LOC}发回报道", "{PER}用iPhone拍下了{LOC}的夜景", "{LOC}和{LOC}之间新开通了{NUM}条航线",
    "{PER}是{ORG}的研究员", "{ORG}宣布将在{LOC}建设新的研究中心", "今年{MONTH}月", "{PER}率团访问{LOC}",
    "{PER}代表{ORG}出席了在{LOC}举行的论坛", "{PER}乘坐CA{NUM}航班从{LOC}飞往{LOC}", "{ORG}总部位于{LOC}",
    "{PER}向{PER}转达了{ORG}的问候", "{LOC}警方已将此事通报{ORG}", "{YEAR}年{MONTH}月{ORG}在{LOC}成立",
]
#: the share of ordered clause pairs kept for dev
HELD_OUT = 0.15
TYPES = ("PER", "LOC", "ORG")
SLOT = re.compile(r"\{(\w+)\}")


class Maker:
    def __init__(self, seed):
        self.rng = random.Random(seed)

    def sentence(self, template, pools):
        """-> (text, [(start, end, type)])."""
        text, spans = "", []
        for part in SLOT.split(template):
            if part in TYPES:
                name = pools[part]() if callable(pools[part]) else self.rng.choice(pools[part])
                spans.append((len(text), len(text) + len(name), part))
                text += name
            elif part in ("YEAR", "NUM", "MONTH"):
                text += str({"YEAR": self.rng.randint(1949, 2024), "NUM": self.rng.randint(2, 9999),
                             "MONTH": self.rng.randint(1, 12)}[part])
            else:
                text += part
        return text, spans


def bio_lines(text, spans):
    tags = ["O"] * len(text)
    for start, end, kind in spans:
        tags[start] = f"B-{kind}"
        for i in range(start + 1, end):
            tags[i] = f"I-{kind}"
    return [f"{ch} {tag}" for ch, tag in zip(text, tags)]


def make(seed=7, n_train=1200, n_dev=240):
    m = Maker(seed)

    def person():
        return m.rng.choice(SURNAMES) + "".join(m.rng.choice(GIVEN) for _ in range(m.rng.choice((1, 2, 2))))

    pools = {"PER": person, "LOC": PLACES, "ORG": ORGS}
    pairs = [(a, b) for a in CLAUSES for b in CLAUSES if a != b]
    m.rng.shuffle(pairs)
    cut = int(len(pairs) * HELD_OUT)
    held, trained = pairs[:cut], [(c,) for c in CLAUSES] + pairs[cut:]
    seen = set()
    train = unique(lambda: m.sentence("，".join(m.rng.choice(trained)) + "。", pools), n_train, seen)
    dev = unique(lambda: m.sentence("，".join(m.rng.choice(held)) + "。", pools), n_dev, seen)
    return train, dev


def unique(make, n, seen):
    """n sentences of make() whose texts are not in `seen` (which they join)."""
    out = []
    while len(out) < n:
        text, spans = make()
        if text not in seen:
            seen.add(text)
            out.append((text, spans))
    return out


def write(path, sentences):
    blocks = ["\n".join(bio_lines(text, spans)) for text, spans in sentences]
    Path(path).write_text("\n\n".join(blocks) + "\n", encoding="utf-8")


def main():
    folder = Path(__file__).resolve().parent / "sample"
    folder.mkdir(exist_ok=True)
    train, dev = make()
    write(folder / "train.txt", train)
    write(folder / "dev.txt", dev)
    print(f"{folder}: {len(train)} training and {len(dev)} dev sentences")


if __name__ == "__main__":
    main()
