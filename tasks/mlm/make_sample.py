"""Writes the bundled sample corpus, original text composed for nlpkit from the phrases below:
short paragraphs (one a line) about Chinese cities, the seasons, food and a working day, each made of
two to four sentences from templates whose slots are filled from fixed facts (a city always lies in its
own province, a dish always comes from its city), so a masked word can be told from its context.

- sample/train.txt: 480 paragraphs;
- sample/dev.txt: 60 held-out paragraphs, each pairing a city with a season, food or trade that no
  training paragraph pairs it with.
Run `python -m nlpkit.tasks.mlm.make_sample` to rebuild.
"""
import random
from pathlib import Path

#: city -> (province, river or lake, a dish, a trade)
CITIES = {
    "杭州": ("浙江", "西湖", "龙井虾仁", "丝绸"),
    "南京": ("江苏", "秦淮河", "盐水鸭", "云锦"),
    "成都": ("四川", "锦江", "麻婆豆腐", "蜀锦"),
    "武汉": ("湖北", "长江", "热干面", "钢铁"),
    "长沙": ("湖南", "湘江", "臭豆腐", "湘绣"),
    "广州": ("广东", "珠江", "早茶", "外贸"),
    "西安": ("陕西", "渭河", "肉夹馍", "旅游"),
    "郑州": ("河南", "黄河", "烩面", "物流"),
    "济南": ("山东", "大明湖", "把子肉", "机械"),
    "福州": ("福建", "闽江", "佛跳墙", "茶叶"),
    "昆明": ("云南", "滇池", "过桥米线", "花卉"),
    "南昌": ("江西", "赣江", "瓦罐汤", "瓷器"),
    "合肥": ("安徽", "巢湖", "三河米饺", "家电"),
    "贵阳": ("贵州", "南明河", "丝娃娃", "数据"),
    "兰州": ("甘肃", "黄河", "牛肉面", "石化"),
    "沈阳": ("辽宁", "浑河", "鸡架", "制造"),
}
SEASONS = {
    "春天": ("桃花", "温暖", "踏青"),
    "夏天": ("荷花", "炎热", "游泳"),
    "秋天": ("桂花", "凉爽", "登山"),
    "冬天": ("梅花", "寒冷", "滑雪"),
}
PEOPLE = ["小王", "小李", "老张", "小陈", "老刘", "小赵", "老周", "小吴"]
JOBS = {"老师": ("学校", "上课"), "医生": ("医院", "看病"), "司机": ("公司", "开车"), "厨师": ("饭店", "做菜"),
        "工程师": ("工厂", "画图"), "记者": ("报社", "写稿")}
WEEKDAYS = ["星期一", "星期二", "星期三", "星期四", "星期五"]


def city_sentences(rng, city):
    province, water, dish, trade = CITIES[city]
    return [
        f"{city}是{province}省的省会。",
        f"{city}的{water}很有名，每年都有很多游客来{city}看{water}。",
        f"到了{city}一定要尝一尝{dish}，{dish}是{city}最有名的小吃。",
        f"{city}的{trade}产业很发达，很多人在{city}从事{trade}。",
        f"{rng.choice(PEOPLE)}从{province}来，他的老家在{city}。",
    ]


def season_sentences(city, season):
    flower, weather, sport = SEASONS[season]
    return [
        f"{season}的{city}天气{weather}，{flower}开了。",
        f"{season}适合{sport}，{city}人喜欢在{season}出门{sport}。",
    ]


def work_sentences(rng):
    person, (job, (place, act)) = rng.choice(PEOPLE), rng.choice(list(JOBS.items()))
    day = rng.choice(WEEKDAYS)
    return [
        f"{person}是一名{job}，每天早上八点去{place}。",
        f"{day}{person}在{place}{act}，一直忙到晚上。",
        f"{job}的工作很辛苦，{person}下班以后回家休息。",
    ]


def paragraph(rng, city, season):
    parts = rng.sample(city_sentences(rng, city), 2) + [rng.choice(season_sentences(city, season))]
    if rng.random() < 0.5:
        parts.append(rng.choice(work_sentences(rng)))
    rng.shuffle(parts)
    return "".join(parts)


def main(folder=None, seed=7):
    rng = random.Random(seed)
    folder = Path(folder or Path(__file__).parent / "sample")
    folder.mkdir(parents=True, exist_ok=True)
    pairs = [(c, s) for c in CITIES for s in SEASONS]
    rng.shuffle(pairs)
    held_out, seen = pairs[:12], pairs[12:]  # dev: (city, season) pairs no training paragraph has
    train = [paragraph(rng, *seen[i % len(seen)]) for i in range(480)]
    dev = [paragraph(rng, *held_out[i % len(held_out)]) for i in range(60)]
    (folder / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    (folder / "dev.txt").write_text("\n".join(dev) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
