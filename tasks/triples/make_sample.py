"""Writes the bundled sample (sample/train.json, dev.json, schema.json) in DuIE / LIC2019 format.

The sentences are original, composed for nlpkit from the patterns below with made-up names, titles
and companies; every triple is stated in its sentence. They cover the overlaps the pointer design
exists for: one subject with several objects, several predicates between the same pair, and
entities that are subject of one triple and object of another. About one record in six uses the
2020 form (`{"@value": ...}` objects). Run `python -m nlpkit.tasks.triples.make_sample` to rebuild.
"""
import json
import random
from pathlib import Path

SCHEMA = [
    ("歌手", "歌曲", "人物"), ("作词", "歌曲", "人物"), ("作曲", "歌曲", "人物"), ("所属专辑", "歌曲", "音乐专辑"),
    ("导演", "影视作品", "人物"), ("主演", "影视作品", "人物"), ("编剧", "影视作品", "人物"),
    ("上映时间", "影视作品", "Date"), ("作者", "图书作品", "人物"), ("出版社", "书籍", "出版社"),
    ("出生地", "人物", "地点"), ("出生日期", "人物", "Date"), ("毕业院校", "人物", "学校"),
    ("国籍", "人物", "国家"), ("妻子", "人物", "人物"), ("丈夫", "人物", "人物"), ("父亲", "人物", "人物"),
    ("母亲", "人物", "人物"), ("创始人", "企业", "人物"), ("成立日期", "企业", "Date"), ("总部地点", "企业", "地点"),
]
TYPES = {p: (s, o) for p, s, o in SCHEMA}

SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦许何吕施张孔曹严华金魏陶姜谢邹喻柏窦章苏潘葛范彭鲁韦马方俞任袁柳唐罗薛雷贺倪汤殷顾孟黄"
GIVEN = "子文明华建国志强晓丽静雅欣怡宇浩然博轩嘉琪梦瑶思远俊杰天佑婷芳秀兰海涛鹏飞雪梅春燕立新振东永康佳慧若曦一鸣书阳紫涵"
WORK_CHARS = "风月花雪山河星海云梦光影时年夜晨故乡归途远方青春岁长歌城南北门桥灯火秋冬春夏心愿旅人"
CITIES = ["北京", "上海", "杭州", "成都", "重庆", "西安", "南京", "武汉", "长沙", "广州", "深圳", "厦门", "青岛",
          "大连", "沈阳", "哈尔滨", "昆明", "贵阳", "南宁", "福州", "合肥", "济南", "郑州", "太原", "兰州", "苏州",
          "无锡", "宁波", "温州", "台北", "香港", "澳门", "拉萨", "西宁", "银川", "呼和浩特", "石家庄", "南昌"]
SCHOOLS = ["北京大学", "清华大学", "复旦大学", "浙江大学", "南京大学", "武汉大学", "中山大学", "四川大学", "厦门大学",
           "北京电影学院", "中央戏剧学院", "上海戏剧学院", "中央音乐学院", "四川音乐学院", "山东大学", "吉林大学"]
COUNTRIES = ["中国", "新加坡", "马来西亚", "加拿大", "美国", "日本", "英国", "澳大利亚"]
PRESSES = ["人民文学出版社", "作家出版社", "上海译文出版社", "译林出版社", "长江文艺出版社", "花城出版社",
           "北京十月文艺出版社", "湖南文艺出版社"]
COMPANY_TAILS = ["科技", "网络", "传媒", "文化", "电子", "生物", "智能", "食品"]


class Maker:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.used = set()

    def person(self):
        while True:
            name = self.rng.choice(SURNAMES) + "".join(self.rng.choice(GIVEN) for _ in range(self.rng.choice((1, 2, 2))))
            if name not in self.used:
                self.used.add(name)
                return name

    def work(self):
        while True:
            title = "".join(self.rng.choice(WORK_CHARS) for _ in range(self.rng.choice((2, 3, 4))))
            if title not in self.used:
                self.used.add(title)
                return title

    def company(self):
        head = "".join(self.rng.choice(WORK_CHARS + GIVEN) for _ in range(2))
        return head + self.rng.choice(COMPANY_TAILS) + self.rng.choice(["公司", "有限公司", "集团"])

    def date(self, full=True):
        y = self.rng.randint(1950, 2022)
        return f"{y}年{self.rng.randint(1, 12)}月{self.rng.randint(1, 28)}日" if full else f"{y}年"

    def pick(self, seq):
        return self.rng.choice(seq)


def _song(m):
    s, a, b, c, d = m.work(), m.person(), m.person(), m.person(), m.work()
    text = m.pick([
        f"《{s}》是{a}演唱的一首歌曲，由{b}作词，{c}作曲，收录在专辑《{d}》中。",
        f"歌曲《{s}》由{b}填词、{c}谱曲，{a}演唱，收录于{a}的专辑《{d}》。",
    ])
    return text, [(s, "歌手", a), (s, "作词", b), (s, "作曲", c), (s, "所属专辑", d)]


def _song_same_person(m):
    s, a = m.work(), m.person()
    text = m.pick([f"《{s}》是由{a}作词作曲并演唱的歌曲。", f"{a}为自己演唱的《{s}》包办了作词和作曲。"])
    return text, [(s, "作词", a), (s, "作曲", a), (s, "歌手", a)]


def _movie(m):
    f, d = m.work(), m.person()
    actors = [m.person() for _ in range(m.pick((1, 2, 3)))]
    year = m.date(full=False)
    names = "、".join(actors)
    text = m.pick([
        f"《{f}》是由{d}执导，{names}主演的电影，于{year}上映。",
        f"电影《{f}》由{d}导演，主演有{names}，{year}在全国上映。",
    ])
    return text, [(f, "导演", d), (f, "上映时间", year)] + [(f, "主演", a) for a in actors]


def _movie_writer_director(m):
    f, a, b = m.work(), m.person(), m.person()
    text = m.pick([f"《{f}》由{a}编剧并导演，{b}主演。", f"{a}自编自导了电影《{f}》，并邀请{b}担任主演。"])
    return text, [(f, "编剧", a), (f, "导演", a), (f, "主演", b)]


def _book(m):
    n, a, p = m.work(), m.person(), m.pick(PRESSES)
    text = m.pick([f"《{n}》是{a}创作的长篇小说，由{p}出版。", f"{a}的散文集《{n}》已由{p}出版发行。"])
    return text, [(n, "作者", a), (n, "出版社", p)]


def _bio(m):
    a, d, c, u = m.person(), m.date(), m.pick(CITIES), m.pick(SCHOOLS)
    text = m.pick([f"{a}，{d}出生于{c}，毕业于{u}。", f"{a}于{d}在{c}出生，后来考入{u}学习。"])
    return text, [(a, "出生日期", d), (a, "出生地", c), (a, "毕业院校", u)]


def _family(m):
    a, b, c = m.person(), m.person(), m.person()
    text = m.pick([f"{a}与妻子{b}育有一子{c}。", f"{a}和{b}是夫妻，两人的儿子名叫{c}。"])
    return text, [(a, "妻子", b), (b, "丈夫", a), (c, "父亲", a), (c, "母亲", b)]


def _company(m):
    x, a, d, c = m.company(), m.person(), m.date(), m.pick(CITIES)
    text = m.pick([f"{x}由{a}创立于{d}，总部位于{c}。", f"{a}在{d}创办了{x}，公司总部设在{c}。"])
    return text, [(x, "创始人", a), (x, "成立日期", d), (x, "总部地点", c)]


def _actor_works(m):
    a, n = m.person(), m.pick(COUNTRIES)
    works = [m.work() for _ in range(m.pick((2, 3)))]
    titles = "".join(f"《{w}》" for w in works)
    text = m.pick([f"{a}是{n}籍演员，代表作有{titles}等。", f"{n}演员{a}主演过{titles}等影片。"])
    return text, [(a, "国籍", n)] + [(w, "主演", a) for w in works]


def _singer_husband(m):
    a, b, s = m.person(), m.person(), m.work()
    text = m.pick([f"歌手{a}的丈夫{b}也是《{s}》的作曲者。", f"《{s}》的曲子出自{b}之手，他的妻子{a}是一名歌手。"])
    return text, [(a, "丈夫", b), (b, "妻子", a), (s, "作曲", b)]


def _cofounders(m):
    a, b, u, x = m.person(), m.person(), m.pick(SCHOOLS), m.company()
    text = m.pick([f"{a}毕业于{u}，后与{b}共同创办了{x}。", f"{x}的两位创始人{a}和{b}都是{u}的校友。"])
    triples = [(a, "毕业院校", u), (x, "创始人", a), (x, "创始人", b)]
    if "校友" in text:
        triples.append((b, "毕业院校", u))
    return text, triples


def _singer_songs(m):
    a, c, n = m.person(), m.pick(CITIES), m.pick(COUNTRIES)
    songs = [m.work() for _ in range(2)]
    text = f"{a}出生于{c}，是一位{n}籍歌手，曾演唱《{songs[0]}》和《{songs[1]}》。"
    return text, [(a, "出生地", c), (a, "国籍", n)] + [(s, "歌手", a) for s in songs]


def _father(m):
    a, b, f = m.person(), m.person(), m.work()
    text = m.pick([f"{a}的父亲{b}是电影《{f}》的导演。", f"导演{b}执导了《{f}》，他的女儿{a}也在片中出演。"])
    triples = [(a, "父亲", b), (f, "导演", b)]
    if "出演" in text:
        triples.append((f, "主演", a))
    return text, triples


def _none(m):
    text = m.pick([
        f"{m.pick(CITIES)}今天的天气晴朗，适合出门散步。", f"{m.person()}说这家店的面条很好吃。",
        f"周末的{m.pick(CITIES)}街头挤满了游客。", f"那首歌的旋律让人想起{m.pick(CITIES)}的夏天。",
    ])
    return text, []


PATTERNS = [_song, _song_same_person, _movie, _movie_writer_director, _book, _bio, _family, _company,
            _actor_works, _singer_husband, _cofounders, _singer_songs, _father, _none]


def record(text, triples, new_style):
    spo_list = []
    for s, p, o in triples:
        st, ot = TYPES[p]
        spo = {"predicate": p, "subject": s, "subject_type": st, "object": o, "object_type": ot}
        if new_style:
            spo["object"], spo["object_type"] = {"@value": o}, {"@value": ot}
        spo_list.append(spo)
    return {"text": text, "spo_list": spo_list}


def make(n, seed):
    m = Maker(seed)
    out = []
    for i in range(n):
        text, triples = PATTERNS[i % len(PATTERNS)](m)
        for s, _, o in triples:
            assert s in text and o in text, (text, s, o)
        out.append(record(text, triples, new_style=m.rng.random() < 0.17))
    m.rng.shuffle(out)
    return out


def write(path, records):
    Path(path).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def main():
    folder = Path(__file__).parent / "sample"
    folder.mkdir(exist_ok=True)
    write(folder / "train.json", make(1200, seed=1))
    write(folder / "dev.json", make(70, seed=2))
    write(folder / "schema.json", [{"predicate": p, "subject_type": s, "object_type": o} for p, s, o in SCHEMA])


if __name__ == "__main__":
    main()
