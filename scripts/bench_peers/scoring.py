"""The scorers: one function per capability, applied to every system's raw predictions alike."""
from collections import Counter


def prf(correct, predicted, gold):
    p = correct / predicted if predicted else 0.0
    r = correct / gold if gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}


# ---- triples ------------------------------------------------------------------------------------
def triple_prf(golds, preds):
    """Micro P/R/F1 over exact (subject, predicate, object) string sets per sentence.
    golds, preds: per sentence, an iterable of (s, p, o) triples."""
    correct = predicted = gold = 0
    for g, p in zip(golds, preds, strict=True):
        g, p = {tuple(t) for t in g}, {tuple(t) for t in p}
        correct, predicted, gold = correct + len(g & p), predicted + len(p), gold + len(g)
    return prf(correct, predicted, gold)


# ---- ner ----------------------------------------------------------------------------------------
def bio_tags(length, spans):
    """Character BIO tags of a text from entity spans (start, end exclusive, type). Spans that overlap
    one already placed are left out (a flat tagging cannot hold them; the longer, then earlier, wins)."""
    tags = ["O"] * length
    for start, end, kind in sorted(spans, key=lambda s: (s[0] - s[1], s[0])):
        start, end = max(0, int(start)), min(length, int(end))
        if end <= start or any(t != "O" for t in tags[start:end]):
            continue
        tags[start] = "B-" + kind
        for i in range(start + 1, end):
            tags[i] = "I-" + kind
    return tags


def ner_seqeval(texts, golds, preds):
    """seqeval entity-level micro P/R/F1 (strict mode, IOB2) on character tags, plus per type."""
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    y_true = [bio_tags(len(t), g) for t, g in zip(texts, golds, strict=True)]
    y_pred = [bio_tags(len(t), p) for t, p in zip(texts, preds, strict=True)]
    report = classification_report(y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    micro = report.get("micro avg", {})
    out = {"precision": float(micro.get("precision", 0.0)), "recall": float(micro.get("recall", 0.0)),
           "f1": float(micro.get("f1-score", 0.0))}
    out["per_type_f1"] = {k: round(float(v["f1-score"]), 4) for k, v in sorted(report.items())
                          if k not in ("micro avg", "macro avg", "weighted avg")}
    return out


# ---- classify -----------------------------------------------------------------------------------
def accuracy_macro_f1(golds, preds):
    golds, preds = [str(g) for g in golds], [str(p) for p in preds]
    labels = sorted(set(golds) | set(preds))
    correct, predicted, gold = Counter(), Counter(preds), Counter(golds)
    correct.update(g for g, p in zip(golds, preds, strict=True) if g == p)
    f1 = [prf(correct[k], predicted[k], gold[k])["f1"] for k in labels]
    return {"accuracy": sum(correct.values()) / len(golds) if golds else 0.0,
            "macro_f1": sum(f1) / len(f1) if f1 else 0.0}


# ---- generated text against a reference (seq2seq) -----------------------------------------------
def _chars(text):
    """The characters a score counts: whitespace left out (Chinese has none between words, and a
    decoder's spaces around Latin pieces or punctuation are not the model's choice)."""
    return [ch for ch in text if not ch.isspace()]


def lcs_length(a, b):
    """Length of the longest common subsequence of two sequences."""
    row = [0] * (len(b) + 1)
    for x in a:
        diagonal = 0  # row[j - 1] of the previous pass
        for j, y in enumerate(b, start=1):
            diagonal, row[j] = row[j], diagonal + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def rouge_l(pred, ref):
    """Character ROUGE-L F1 (precision and recall of the longest common subsequence, beta = 1)."""
    p, r = _chars(pred), _chars(ref)
    common = lcs_length(p, r)
    return 2 * common / (len(p) + len(r)) if common else 0.0


def bleu4(pred, ref):
    """Character sentence BLEU-4 as NLTK's sentence_bleu with SmoothingFunction().method1 (what the
    bert4keras / bert4torch seq2seq examples report): clipped n-gram precisions for n = 1..4, a zero
    count above n = 1 replaced by 0.1, equal weights, the brevity penalty; 0 without a matching character."""
    import math

    p, r = _chars(pred), _chars(ref)
    if not p:
        return 0.0
    logs = []
    for n in range(1, 5):
        hyp = Counter(tuple(p[i : i + n]) for i in range(len(p) - n + 1))
        gold = Counter(tuple(r[i : i + n]) for i in range(len(r) - n + 1))
        matched = sum(min(c, gold[g]) for g, c in hyp.items())
        if matched == 0 and n == 1:
            return 0.0
        logs.append(math.log((matched or 0.1) / max(sum(hyp.values()), 1)))
    brevity = 1.0 if len(p) > len(r) else math.exp(1 - len(r) / len(p))
    return brevity * math.exp(sum(logs) / 4)


def generation_scores(preds, refs, sources=None):
    """Means over pairs of character ROUGE-L F1 and BLEU-4, the share of empty outputs and, with the
    sources, the share of outputs that copy their source (a paraphrase must not just repeat it)."""
    preds, refs = list(preds), list(refs)
    n = max(len(refs), 1)
    out = {"rouge_l": sum(rouge_l(p, r) for p, r in zip(preds, refs, strict=True)) / n,
           "bleu": sum(bleu4(p, r) for p, r in zip(preds, refs, strict=True)) / n,
           "gen_empty": sum(not _chars(p) for p in preds) / n}
    if sources is not None:
        out["copies_source"] = sum(_chars(p) == _chars(s) for p, s in zip(preds, sources, strict=True)) / n
    return out


# ---- generated texts ----------------------------------------------------------------------------
def distinct_n(texts, n=2):
    """Distinct character n-grams over all n-grams of the texts (Li et al. 2016's distinct-n, on characters)."""
    grams = Counter()
    for t in texts:
        grams.update(t[i : i + n] for i in range(len(t) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


class Judge:
    """A sentiment classifier for generated texts: character 1-3-gram TF-IDF + logistic regression
    (scikit-learn), trained on real reviews that no generator saw."""

    def __init__(self, texts, labels):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        self.model = make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
                                   LogisticRegression(max_iter=2000, C=4.0))
        self.model.fit(list(texts), [str(x) for x in labels])

    def predict(self, texts):
        """The judged label of each text; None for an empty text (it says nothing, so it is never right:
        the classifier would otherwise give it the majority label)."""
        texts = list(texts)
        said = [t for t in texts if t.strip()]
        judged = iter(str(x) for x in self.model.predict(said)) if said else iter(())
        return [next(judged) if t.strip() else None for t in texts]

    def accuracy(self, texts, labels):
        preds = self.predict(texts)
        return sum(p == str(y) for p, y in zip(preds, labels)) / len(preds) if preds else 0.0
