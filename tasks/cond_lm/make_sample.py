"""Writes the bundled sample (sample/sentiment.train.data, sample/sentiment.valid.data) in the
bert4keras sentiment-corpus layout: one `text<TAB>label` a line, label 0 (negative) or 1 (positive).

The reviews are written for this project: short clauses about hotels, restaurants, phones, books,
deliveries and films, composed by templates here, so nothing is copied from a public corpus. The two
labels differ in vocabulary (praise vs complaints) and in style (positive reviews are enthusiastic
and mostly end with "！", negative ones are flat complaints mostly ending with "。" or "……"); 40% of
the reviews open neutrally and a fifth add a mild remark of the other polarity. A few long reviews
(several reviews run together) exercise the sentence splitting. Dev texts never occur in train.

    python -m nlpkit.tasks.cond_lm.make_sample [OUT_DIR]
"""
import random
import sys
from pathlib import Path

DOMAINS = {
    "酒店": {
        "subj": ["这家酒店", "这次住的宾馆", "湖边这家民宿", "车站旁的酒店"],
        1: ["房间干净又宽敞", "床品柔软舒服", "前台小姐姐特别热情", "早餐品种丰富", "窗外就是湖景", "隔音效果很好",
            "服务员主动帮忙提行李", "卫生间一尘不染", "位置方便，出门就是地铁"],
        0: ["房间有股霉味", "空调一直嗡嗡响", "前台态度敷衍", "早餐又冷又少", "床单上有污渍", "隔音差，半夜被吵醒",
            "热水等了半小时才来", "卫生间下水道堵了", "照片和实物差距太大"],
    },
    "餐厅": {
        "subj": ["这家餐厅", "楼下新开的面馆", "朋友推荐的火锅店", "这家小饭馆"],
        1: ["菜品新鲜好吃", "汤底香浓", "上菜速度很快", "老板热情又实在", "分量足，价格公道", "环境安静优雅",
            "招牌红烧肉入口即化", "甜点做得精致"],
        0: ["菜又咸又油", "等了一个小时才上菜", "服务员爱理不理", "价格贵得离谱", "碗筷洗得不干净", "肉不新鲜，吃完肚子疼",
            "环境嘈杂，桌子黏糊糊的", "分量少得可怜"],
    },
    "手机": {
        "subj": ["这款手机", "新买的手机", "给爸妈买的这台手机", "这部旗舰机"],
        1: ["运行流畅不卡顿", "拍照清晰，夜景也漂亮", "电池很耐用", "屏幕色彩鲜艳", "手感轻薄", "充电速度快",
            "系统简洁好用", "信号稳定"],
        0: ["用了两天就开始卡顿", "拍照模糊发灰", "电池掉电飞快", "屏幕有坏点", "机身发烫严重", "充电特别慢",
            "系统广告多得烦人", "信号时有时无"],
    },
    "书": {
        "subj": ["这本书", "这套小说", "老师推荐的这本教材", "这本游记"],
        1: ["故事精彩，一口气读完", "文字优美动人", "印刷清晰，纸张厚实", "讲解深入浅出", "插图也很用心",
            "读完收获很大"],
        0: ["内容空洞，读不下去", "错别字一大堆", "纸张薄，印刷模糊", "翻译生硬别扭", "情节拖沓无聊",
            "封面折了，还缺了几页"],
    },
    "快递": {
        "subj": ["这次网购", "这家店的发货", "这个快递", "这家网店"],
        1: ["第二天就送到了", "包装严实，一点没坏", "客服回复及时耐心", "快递小哥很有礼貌", "商品和描述完全一致"],
        0: ["一个星期才送到", "包装破了，东西摔坏了", "客服一直不回消息", "快递员直接扔在门口", "收到的货和图片不一样"],
    },
    "电影": {
        "subj": ["这部电影", "昨晚看的片子", "这部动画片", "这部纪录片"],
        1: ["剧情紧凑感人", "演员演技在线", "画面美得像油画", "配乐让人起鸡皮疙瘩", "结尾很有惊喜"],
        0: ["剧情老套，猜到了结局", "演员演技尴尬", "特效粗糙廉价", "节奏拖沓，看得想睡", "结尾草草收场"],
    },
}

# positive: warm and enthusiastic, exclamation marks, intensifiers; negative: flat complaints, full stops and ellipses
OPEN = {
    1: ["{s}真的太棒了！", "{s}超出预期！", "非常满意{s}！", "强烈推荐{s}！", "{s}好评！", "特别喜欢{s}！"],
    0: ["{s}让人很失望。", "{s}太差劲了。", "对{s}非常不满。", "{s}糟糕透了……", "{s}体验很差。", "后悔选了{s}。"],
}
# shared by both labels, so the label has to be read from the body, not the first words
NEUTRAL_OPEN = ["说说{s}。", "{s}，", "周末体验了{s}，", "上个月试了{s}，", "关于{s}：", "朋友问我{s}怎么样，"]
# a mild remark of the other polarity, as real reviews often have
MILD = {1: ["不过价格稍贵", "就是等得有点久"], 0: ["虽然价格便宜", "唯一的优点是包装好看"]}
JOIN = {1: ["，而且", "，还", "，", "，尤其是"], 0: ["，而且", "，还", "，", "，更气人的是"]}
CLOSE = {
    1: ["下次还会再来！", "值得推荐给朋友！", "五星好评！", "物超所值，开心！", "给个大大的赞！", "满心欢喜！"],
    0: ["再也不会来了。", "建议大家别踩坑。", "差评。", "浪费钱，后悔。", "已经申请退货了。", "真是糟心……"],
}


def review(rng, label):
    dom = DOMAINS[rng.choice(sorted(DOMAINS))]
    subj = rng.choice(dom["subj"])
    parts = rng.sample(dom[label], rng.choice([1, 2, 2, 3]))
    joins = rng.sample(JOIN[label], len(parts) - 1)
    body = parts[0] + "".join(j + p for j, p in zip(joins, parts[1:]))
    if rng.random() < 0.2:
        body += "，" + rng.choice(MILD[label])
    # style: praise mostly ends with "！", complaints with "。", but not always
    end = ("！" if label == 1 else "。") if rng.random() < 0.8 else ("。" if label == 1 else "！")
    opener = rng.choice(NEUTRAL_OPEN if rng.random() < 0.4 else OPEN[label])
    text = opener.format(s=subj) + body + end
    if rng.random() < 0.7:
        text += rng.choice(CLOSE[label])
    return text


def long_review(rng, label):
    # several short reviews run together: exercises the sentence splitting in the reader
    return "".join(review(rng, label) for _ in range(rng.choice([3, 4])))


def make(n, seed, n_long=0):
    rng = random.Random(seed)
    rows, seen = [], set()
    while len(rows) < n:
        label = len(rows) % 2
        t = review(rng, label)
        if t in seen:
            continue
        seen.add(t)
        rows.append((t, label))
    rows += [(long_review(rng, i % 2), i % 2) for i in range(n_long)]
    rng.shuffle(rows)
    return rows


def main(out=None):
    out = Path(out or Path(__file__).parent / "sample")
    out.mkdir(parents=True, exist_ok=True)
    train = make(400, 1, n_long=10)
    seen = {t for t, _ in train}
    dev = [r for r in make(200, 2) if r[0] not in seen][:100]
    for name, rows in [("sentiment.train.data", train), ("sentiment.valid.data", dev)]:
        (out / name).write_text("".join(f"{t}\t{label}\n" for t, label in rows), encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:2])
