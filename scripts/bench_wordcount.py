"""Benchmark `nlpkit wordcount` against what a user would otherwise write, in one run, same corpus:

  loop             plain single-process loop: for line: for w in jieba.cut(line): d[w] = d.get(w, 0) + 1
  enable_parallel  jieba.enable_parallel(N), then Counter over jieba.cut(file_text)
  ours_j1          nlpkit.wordcount, jieba, -j 1
  ours_jN          nlpkit.wordcount, jieba, -j N
  rjieba_jN        nlpkit.wordcount, rjieba, -j N

Every approach runs in its own fresh process (dictionary loading and pool start-up included in its time);
peak memory is the sampled RSS of that process plus its children, CPU time is user+sys of the whole
process tree (useful when other work shares the CPU). All jieba counts must be equal.
Usage: python scripts/bench_wordcount.py [--mb 20] [--workers 2] [--corpus DIR] [--cache DIR]
The last line printed is one JSON object.
"""
import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

# ---------------------------------------------------------------------------------------------------
# A deterministic Chinese news-like corpus from word lists and templates written for this benchmark.
TIMES = "今天 昨天 近日 日前 本周 上午 下午 今年以来 上半年 去年同期 本月初 前不久".split()
PLACES = ("北京 上海 广州 深圳 杭州 成都 武汉 西安 南京 重庆 天津 苏州 长沙 郑州 青岛 厦门 昆明 哈尔滨 合肥 济南 "
          "海淀区 浦东新区 雄安新区 粤港澳大湾区 长江经济带 黄河流域 西部地区 东北地区 沿海城市 县城 乡村").split()
ORGS = ("国家统计局 中国人民银行 教育部 科技部 工业和信息化部 市场监管总局 生态环境部 农业农村部 清华大学 北京大学 "
        "中国科学院 复旦大学 浙江大学 华为公司 阿里巴巴 腾讯 小米集团 比亚迪 国家电网 世界卫生组织 联合国 "
        "国际货币基金组织 证监会 发改委 市政府 区委 研究院 行业协会 消费者协会").split()
SUBJECTS = ("企业 居民 消费者 投资者 专家 学生 农民 工人 医生 研究人员 开发者 用户 志愿者 游客 家长 教师 "
            "中小企业 科研团队 地方政府 金融机构 制造业 服务业 互联网公司 创业者 老年人 年轻人").split()
VERBS = ("发布 推出 宣布 提高 降低 推动 促进 加强 完善 建设 实施 开展 研究 开发 应用 支持 关注 扩大 "
         "优化 改善 保障 落实 探索 引进 培养 升级 整合 评估 监测 共享").split()
OBJECTS = ("新能源汽车 人工智能 芯片 数据中心 基础设施 医疗服务 教育资源 养老保险 房地产市场 货币政策 粮食生产 "
           "生态环境 碳排放 乡村振兴 数字经济 智能手机 互联网平台 5G网络 高速铁路 公共交通 职业教育 文化旅游 "
           "跨境电商 供应链 知识产权 营商环境 社区服务 食品安全 心理健康 科技创新 就业岗位 居民收入 出口贸易").split()
ADVS = "进一步 持续 稳步 大幅 明显 全面 积极 显著 不断 逐步 切实 加快 有效 首次 再次".split()
SAYS = "表示 指出 认为 强调 介绍 透露 坦言 称".split()
METRICS = "增长 下降 上涨 回落 提升 减少".split()
CLAUSES = ("这一举措受到广泛关注 相关工作正在有序推进 市场反应总体平稳 未来仍有较大发展空间 "
           "业内人士对此持乐观态度 具体方案将于近期公布 各方将加强沟通协调 这为行业发展提供了新机遇 "
           "群众的获得感明显增强 仍面临一些困难和挑战").split()
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建国文斌宇浩凯晨欣怡子涵梓轩思远雨婷佳琪嘉俊晓峰海燕振宁"
EN = "AI GDP CPI App iPhone VR 5G CEO IPO ETF COVID-19 iPhone-15 Wi-Fi B2B K-12 H5N1 T+0".split()


def _name(rng):
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def _num(rng):
    return rng.choice([f"{rng.uniform(0.1, 30):.1f}%", f"{rng.randint(2, 999)}万元", f"{rng.randint(2, 99)}亿元",
                       f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日", f"{rng.randint(2000, 2025)}年", "三成", "近一半"])


def _sentence(rng):
    c = rng.choice
    t = rng.randrange(6)
    if t == 0:
        return f"{c(TIMES)}，{c(ORGS)}{c(SAYS)}，{c(PLACES)}{c(OBJECTS)}{c(METRICS)}{_num(rng)}。"
    if t == 1:
        return f"{_name(rng)}{c(SAYS)}：“{c(SUBJECTS)}{c(ADVS)}{c(VERBS)}{c(OBJECTS)}，{c(CLAUSES)}。”"
    if t == 2:
        return f"据{c(ORGS)}消息，{c(PLACES)}{c(SUBJECTS)}{c(TIMES)}{c(VERBS)}了{_num(rng)}的{c(OBJECTS)}项目，{c(CLAUSES)}。"
    if t == 3:
        return (f"{c(PLACES)}的{c(SUBJECTS)}在{c(OBJECTS)}方面{c(ADVS)}{c(VERBS)}，"
                f"{c(ORGS)}的{_name(rng)}认为这将{c(VERBS)}{c(OBJECTS)}。")
    if t == 4:
        return f"记者{c(TIMES)}从{c(ORGS)}获悉，{c(EN)}相关的{c(OBJECTS)}{c(ADVS)}{c(METRICS)}，{c(CLAUSES)}。"
    return f"{c(SUBJECTS)}和{c(SUBJECTS)}都希望{c(ORGS)}能够{c(ADVS)}{c(VERBS)}{c(OBJECTS)}，{c(CLAUSES)}！"


def build_corpus(folder, mb, seed, files=10):
    folder = Path(folder)
    marker = folder / ".complete"
    if marker.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    per_file = mb * 1_000_000 // files
    for i in range(files):
        size, lines = 0, []
        while size < per_file:
            doc = "".join(_sentence(rng) for _ in range(rng.randint(3, 10)))
            lines.append(doc)
            size += len(doc.encode()) + 1
        (folder / f"news_{i:02d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    marker.write_text("ok\n")
    return folder


def corpus_files(folder):
    return sorted(str(p) for p in Path(folder).rglob("*") if p.is_file() and not p.name.startswith("."))


# ---------------------------------------------------------------------------------------------------
# The approaches, each run in a child process: `--approach NAME` writes {"seconds", "counts"} as JSON.
def approach(name, folder, workers):
    files = corpus_files(folder)
    t0 = time.perf_counter()
    if name in ("loop", "enable_parallel"):
        import logging

        import jieba

        from nlpkit.wordcount import Settings

        jieba.setLogLevel(logging.WARNING)
        keep = Settings.create().keep  # the same token filter as ours, so the counts are comparable
        if name == "loop":
            counts = {}
            for path in files:
                with open(path, encoding="utf-8") as f:
                    for line in f:
                        for w in jieba.cut(line):
                            if keep(w):
                                counts[w] = counts.get(w, 0) + 1
        else:
            jieba.enable_parallel(workers)
            counts = Counter()
            for path in files:
                with open(path, encoding="utf-8") as f:
                    counts.update(w for w in jieba.cut(f.read()) if keep(w))
    else:
        from nlpkit.wordcount import count

        tokenizer = "rjieba" if name.startswith("rjieba") else "jieba"
        counts = count(folder, workers=1 if name == "ours_j1" else workers, tokenizer=tokenizer)
    return time.perf_counter() - t0, dict(counts)


def measure(name, folder, workers, workdir):
    """Run one approach in a fresh process; sample the RSS of its process tree."""
    import psutil

    result = Path(workdir) / f"{name}.json"
    cmd = [sys.executable, __file__, "--approach", name, "--corpus", str(folder), "--workers", str(workers),
           "--result", str(result)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            rss = sum(p.memory_info().rss for p in [ps] + ps.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.1)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed with exit code {proc.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the child and every worker it reaped
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    data = json.loads(result.read_text(encoding="utf-8"))
    return data["seconds"], Counter(data["counts"]), peak / 2**20, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=20, help="corpus size to build (MB, default 20)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--corpus", help="use this folder of text files instead of building one")
    ap.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "nlpkit", "bench_wordcount"))
    ap.add_argument("--approach", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.approach:  # child process
        seconds, counts = approach(args.approach, args.corpus, args.workers)
        Path(args.result).write_text(json.dumps({"seconds": seconds, "counts": counts}, ensure_ascii=False),
                                     encoding="utf-8")
        return

    folder = args.corpus or build_corpus(Path(args.cache) / f"zh_news_{args.mb}mb_seed{args.seed}", args.mb, args.seed)
    files = corpus_files(folder)
    mb = sum(os.path.getsize(f) for f in files) / 1e6
    n = args.workers
    load = os.getloadavg()[0]
    print(f"corpus: {folder} ({len(files)} files, {mb:.1f} MB); workers={n}; cpus={os.cpu_count()}; "
          f"load average at start {load:.2f}", flush=True)

    names = ["loop", "enable_parallel", "ours_j1", f"ours_j{n}", f"rjieba_j{n}"]
    res = {}
    with tempfile.TemporaryDirectory() as work:
        for name in names:
            seconds, counts, peak, cpu = measure(name.replace(f"_j{n}", "_jN"), folder, n, work)
            res[name] = {"seconds": seconds, "counts": counts, "peak_mb": peak, "cpu": cpu}
            tokens = sum(counts.values())
            print(f"{name:16s} {seconds:8.2f} s  {mb / seconds:6.2f} MB/s  {tokens / seconds:11,.0f} tokens/s  "
                  f"cpu {cpu:8.2f} s  peak {peak:7.1f} MB  types {len(counts):,}", flush=True)

    ref = res["loop"]["counts"]
    jieba_equal = all(res[k]["counts"] == ref for k in ("enable_parallel", "ours_j1", f"ours_j{n}"))
    rj = res[f"rjieba_j{n}"]["counts"]
    diff_tokens = sum(abs(rj.get(w, 0) - ref.get(w, 0)) for w in set(rj) | set(ref))

    # rjieba equals jieba with the HMM off: check on the first file
    from nlpkit.wordcount import count

    nohmm_equal = count(files[0], workers=1, hmm=False) == count(files[0], workers=1, hmm=False, tokenizer="rjieba")

    loop_s = res["loop"]["seconds"]
    summary = {
        "corpus_mb": round(mb, 2),
        "files": len(files),
        "workers": n,
        "cpus": os.cpu_count(),
        "load_average_at_start": round(load, 2),
        "tokens": sum(ref.values()),
        "types": len(ref),
        "seconds": {k: round(v["seconds"], 2) for k, v in res.items()},
        "cpu_seconds": {k: round(v["cpu"], 2) for k, v in res.items()},  # user+sys, process tree
        "peak_rss_mb": {k: round(v["peak_mb"], 1) for k, v in res.items()},
        "jieba_counts_equal": jieba_equal,
        "rjieba_nohmm_equals_jieba_nohmm": nohmm_equal,
        "rjieba_hmm_vs_jieba_hmm_token_l1_fraction": round(diff_tokens / max(1, sum(ref.values())), 5),
        f"speedup_j{n}_vs_loop": round(loop_s / res[f"ours_j{n}"]["seconds"], 2),
        f"speedup_j{n}_vs_enable_parallel": round(res["enable_parallel"]["seconds"] / res[f"ours_j{n}"]["seconds"], 2),
        "speedup_j1_vs_loop": round(loop_s / res["ours_j1"]["seconds"], 2),
        "speedup_rjieba_vs_loop": round(loop_s / res[f"rjieba_j{n}"]["seconds"], 2),
    }
    summary["speedup_jN_vs_loop"] = summary[f"speedup_j{n}_vs_loop"]
    summary["speedup_jN_vs_enable_parallel"] = summary[f"speedup_j{n}_vs_enable_parallel"]
    if not jieba_equal:
        print("ERROR: jieba counts differ between approaches", file=sys.stderr)
    print(json.dumps(summary, ensure_ascii=False))
    sys.exit(0 if jieba_equal else 1)


if __name__ == "__main__":
    main()
