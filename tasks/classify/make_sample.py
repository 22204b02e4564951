"""Writes the bundled samples, original texts composed for nlpkit from the phrases below:

- sample/train.tsv, dev.tsv: hotel and phone reviews, `text<TAB>label` with label positive or
  negative; polarity comes from an aspect and an adjective, possibly negated ("房间不太干净" is
  negative, "环境一点也不吵" positive). Dev reviews are built only from (aspect, adjective) pairs
  never used for training;
- sample/pairs_train.tsv, pairs_dev.tsv: customer-service question pairs in the LCQMC layout
  `text_a<TAB>text_b<TAB>label`, 1 when both ask the same thing; dev pairs combine two wordings
  that no training pair combines;
- sample/multilabel_train.jsonl, multilabel_dev.jsonl: hotel reviews {"text", "label": [aspects]}
  naming the aspects a review talks about; every dev review holds a clause never used for training.
Run `python -m nlpkit.tasks.classify.make_sample` to rebuild.
"""
import json
import random
from pathlib import Path

#: aspect -> (adjectives praising it, adjectives criticising it)
ASPECTS = {
    "房间": (["干净", "宽敞", "整洁", "明亮"], ["脏", "小", "潮湿", "破旧"]),
    "服务": (["热情", "周到", "贴心", "专业"], ["冷淡", "差", "敷衍", "慢"]),
    "早餐": (["丰富", "好吃", "新鲜", "可口"], ["难吃", "单调", "凉", "差"]),
    "位置": (["方便", "好找", "优越", "便利"], ["偏", "难找", "偏僻", "远"]),
    "床": (["舒服", "软", "干净", "大"], ["硬", "脏", "小", "窄"]),
    "前台": (["热情", "专业", "耐心", "高效"], ["冷淡", "傲慢", "慢", "敷衍"]),
    "环境": (["安静", "优美", "舒适", "整洁"], ["吵", "嘈杂", "差", "乱"]),
    "价格": (["实惠", "便宜", "合理", "划算"], ["贵", "离谱", "高", "坑"]),
    "交通": (["便利", "方便", "发达", "顺畅"], ["糟糕", "拥堵", "麻烦", "差"]),
    "隔音": (["好", "不错", "出色", "理想"], ["差", "糟糕", "失败", "可怕"]),
    "这家酒店": (["好", "棒", "不错", "温馨"], ["差", "坑", "破", "糟糕"]),
    "电池": (["耐用", "持久", "给力", "强"], ["差", "弱", "拉胯", "烫"]),
    "屏幕": (["清晰", "细腻", "鲜艳", "亮"], ["模糊", "暗", "刺眼", "偏色"]),
    "拍照": (["清晰", "好看", "出色", "自然"], ["模糊", "差", "失真", "糊"]),
    "系统": (["流畅", "稳定", "好用", "简洁"], ["卡", "卡顿", "难用", "臃肿"]),
    "物流": (["快", "及时", "迅速", "给力"], ["慢", "拖沓", "差", "磨蹭"]),
    "客服": (["耐心", "热情", "专业", "负责"], ["冷淡", "敷衍", "差", "推诿"]),
    "这款手机": (["好用", "流畅", "漂亮", "轻薄"], ["难用", "卡", "笨重", "烫"]),
}
DEGREES = ["很", "非常", "特别", "挺", "十分", "真的", "比较"]
NEGATIONS = ["不太", "一点也不", "不够", "并不"]
TAILS = ["。", "。", "，以上是我的评价。", "，就说这么多。", "，供大家参考。", "！"]

#: wordings of ten questions; the wordings of one question share its key word (密码, 退款, ...)
QUESTIONS = {
    "password": ["怎么修改密码", "密码怎么改", "如何更改登录密码", "我想换个密码", "修改密码在哪里操作", "密码忘了怎么重新设置"],
    "refund": ["怎么申请退款", "退款怎么操作", "如何办理退款", "我要退款", "退款流程是什么", "申请退款需要多久到账"],
    "delivery": ["我的快递到哪了", "怎么查快递信息", "快递信息在哪看", "快递现在在哪里", "如何查询快递进度", "快递几天能送到"],
    "invoice": ["怎么开发票", "发票如何申请", "可以开发票吗", "我需要一张发票", "电子发票在哪里开", "发票抬头写错了能重开吗"],
    "account": ["怎么注销账号", "如何删除我的账号", "账号注销在哪里", "我想注销这个账号", "注销账号的流程", "账号注销以后还能恢复吗"],
    "address": ["怎么修改收货地址", "收货地址填错了怎么办", "如何更改配送地址", "地址可以改吗", "我想换个收货地址", "下单后还能改地址吗"],
    "service": ["怎么联系人工客服", "人工客服在哪里", "如何找到客服", "我要找客服", "客服电话是多少", "转人工客服怎么操作"],
    "member": ["会员怎么续费", "如何续订会员", "会员到期了怎么办", "我想续费会员", "续费会员在哪操作", "会员自动续费怎么关闭"],
    "cancel": ["怎么取消订单", "订单可以取消吗", "如何撤销刚下的订单", "我想取消订单", "取消订单在哪里", "已经付款的订单能取消吗"],
    "card": ["怎么绑定银行卡", "如何添加银行卡", "银行卡绑定在哪里", "我想绑一张银行卡", "添加银行卡的步骤", "银行卡绑定失败怎么办"],
}
PREFIXES = ["", "", "请问", "你好，", "您好，", "麻烦问一下，"]
SUFFIXES = ["？", "？", "呢？", "啊？", "", "。"]

CLAUSES = {
    "服务": ["前台服务很热情", "服务员态度冷淡", "工作人员很耐心", "服务响应太慢", "管家服务周到", "叫了三次服务都没人来"],
    "卫生": ["房间打扫得很干净", "床单上有污渍", "卫生间有异味", "毛巾洗得很白", "地毯脏兮兮的", "浴室一尘不染"],
    "位置": ["离地铁站很近", "位置有点偏", "步行就能到景点", "周边吃饭很方便", "打车都不好打", "就在市中心"],
    "价格": ["价格很实惠", "房价太贵了", "性价比很高", "周末涨价太狠", "比别家便宜不少", "这个价钱不值"],
    "早餐": ["早餐种类丰富", "早餐很难吃", "自助早餐品种少", "早点的粥很好喝", "早餐九点就收了", "早饭的包子很新鲜"],
}


def split(rng, items, fraction):
    items = sorted(items)
    rng.shuffle(items)
    cut = max(1, int(len(items) * fraction))
    return items[cut:], items[:cut]


def held_out(rng, triples, fraction):
    """(training, held-out) triples; a held-out adjective still comes with other aspects in training."""
    triples = sorted(triples)
    rng.shuffle(triples)
    held, trained = [], list(triples)
    for t in triples:
        if len(held) < fraction * len(triples) and sum(a[1:] == t[1:] for a in trained) > 1:
            held.append(t)
            trained.remove(t)
    return trained, held


def clause(rng, aspect, adjective, own, polarity):
    """An aspect and an adjective of polarity `own` -> a clause of `polarity` (negated when they differ)."""
    if own == polarity:
        return aspect + rng.choice(DEGREES) + adjective
    return aspect + rng.choice(NEGATIONS) + adjective


def review(rng, triples):
    """One or two clauses of one polarity; one clause in four negates an adjective of the other."""
    polarity = rng.choice(["positive", "negative"])
    parts = []
    for _ in range(rng.choice((1, 2, 2))):
        own = polarity if rng.random() < 0.75 else {"positive": "negative", "negative": "positive"}[polarity]
        parts.append(clause(rng, *rng.choice([t for t in triples if t[2] == own]), polarity))
    return "，".join(parts) + rng.choice(TAILS), polarity


def sentiment(rng, n_train=1000, n_dev=200):
    """Dev reviews use only held-out (aspect, adjective) pairs, their adjectives known from other aspects."""
    triples = [(a, w, own) for a, (good, bad) in ASPECTS.items()
               for own, words in (("positive", good), ("negative", bad)) for w in words]
    trained, held = held_out(rng, triples, 0.15)
    train = unique(lambda: review(rng, trained), n_train)
    dev = unique(lambda: review(rng, held), n_dev, {t for t, _ in train})
    return train, dev


def question(rng, text):
    return rng.choice(PREFIXES) + text + rng.choice(SUFFIXES)


def pairs(rng, n_train=1000, n_dev=200):
    """Pairs of wordings: half of the same question, half of two different ones; dev pairs combine
    two wordings that no training pair combines (each wording is used for training)."""
    wordings = [(intent, text) for intent, texts in sorted(QUESTIONS.items()) for text in texts]
    combos = {"1": [], "0": []}
    for i, (a, x) in enumerate(wordings):
        for b, y in wordings[i + 1 :]:
            combos["1" if a == b else "0"].append((x, y))
    held = {}
    for label, found in combos.items():
        found.sort()
        rng.shuffle(found)
        cut = int(len(found) * 0.15)
        combos[label], held[label] = found[cut:], found[:cut]

    def pair(source):
        label = rng.choice(["1", "0"])
        texts = [question(rng, t) for t in rng.choice(source[label])]
        rng.shuffle(texts)
        return (*texts, label)

    train = unique(lambda: pair(combos), n_train, key=lambda t: t[:2])
    dev = unique(lambda: pair(held), n_dev, {t[:2] for t in train}, key=lambda t: t[:2])
    return train, dev


def multilabel(rng, n_train=600, n_dev=120):
    trained = {a: c[:-1] for a, c in CLAUSES.items()}

    def text(held):
        aspects = sorted(rng.sample(sorted(CLAUSES), rng.choice((1, 2, 2, 3))))
        parts = [rng.choice(trained[a]) for a in aspects]
        if held:  # one clause of one aspect is one never trained on
            k = rng.randrange(len(aspects))
            parts[k] = CLAUSES[aspects[k]][-1]
        rng.shuffle(parts)
        return "，".join(parts) + "。", aspects

    train = unique(lambda: text(False), n_train)
    dev = unique(lambda: text(True), n_dev, {t for t, _ in train})
    return train, dev


def unique(make, n, seen=(), key=lambda item: item[0]):
    """n items of make() whose keys are new (not in `seen`, not repeated)."""
    seen, out = set(seen), []
    while len(out) < n:
        item = make()
        if key(item) not in seen:
            seen.add(key(item))
            out.append(item)
    return out


def write_tsv(path, rows):
    Path(path).write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")


def write_jsonl(path, rows):
    Path(path).write_text("".join(json.dumps({"text": t, "label": labels}, ensure_ascii=False) + "\n"
                                  for t, labels in rows), encoding="utf-8")


def main():
    folder = Path(__file__).resolve().parent / "sample"
    folder.mkdir(exist_ok=True)
    rng = random.Random(11)
    for name, (train, dev) in (("", sentiment(rng)), ("pairs_", pairs(rng))):
        write_tsv(folder / f"{name}train.tsv", train)
        write_tsv(folder / f"{name}dev.tsv", dev)
    train, dev = multilabel(rng)
    write_jsonl(folder / "multilabel_train.jsonl", train)
    write_jsonl(folder / "multilabel_dev.jsonl", dev)
    print(f"{folder}: sentiment, pairs and multi-label samples written")


if __name__ == "__main__":
    main()
