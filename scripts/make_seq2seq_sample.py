"""Writes tasks/seq2seq/sample/{train,dev}.tsv: CSL-format (title<TAB>content) abstracts written for
nlpkit. Titles follow from the content (method, field and kind of study), so a small model can
learn to title unseen combinations. Deterministic: re-running gives the same files."""
import random
from pathlib import Path

METHODS = ["深度学习", "随机森林", "遗传算法", "图神经网络", "支持向量机", "强化学习", "迁移学习", "注意力机制",
           "聚类分析", "小波变换", "知识图谱", "联邦学习"]
FIELDS = ["水稻病害识别", "城市交通预测", "电力负荷预测", "中文文本分类", "医学图像分割", "桥梁健康监测",
          "网络入侵检测", "古籍文字识别", "空气质量评估", "心电信号分类", "物流配送调度", "电池寿命估计"]
# (content template, title template): the opening verb tells which kind of title to write
KINDS = [
    ("本文提出一种基于{m}的{f}方法。{pad}实验表明该方法优于传统方法。", "基于{m}的{f}方法"),
    ("针对{f}中的问题，本文研究了{m}的应用。{pad}结果可为相关工作提供参考。", "{m}在{f}中的应用研究"),
    ("本文综述了{m}在{f}领域的研究进展。{pad}最后展望了发展方向。", "{f}中{m}研究综述"),
    ("为了改进{f}的性能，本文设计了改进的{m}模型。{pad}仿真验证了模型的有效性。", "改进{m}模型的{f}"),
]
PADS = ["首先清洗了原始数据，", "然后构建特征并训练模型，", "同时用交叉验证选择参数，",
        "在公开数据集上做了对比实验，", "并分析了参数的影响，", "此外讨论了计算复杂度，"]


def main(out=Path(__file__).resolve().parents[1] / "tasks" / "seq2seq" / "sample"):
    rng = random.Random(2024)
    combos = [(k, m, f) for k in KINDS for m in METHODS for f in FIELDS]
    rng.shuffle(combos)
    rows = []
    for (content, title), m, f in combos[:300]:
        pad = "".join(rng.sample(PADS, rng.randint(1, 2)))
        rows.append(f"{title.format(m=m, f=f)}\t{content.format(m=m, f=f, pad=pad)}\n")
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.tsv").write_text("".join(rows[:240]), encoding="utf-8")
    (out / "dev.tsv").write_text("".join(rows[240:]), encoding="utf-8")


if __name__ == "__main__":
    main()
