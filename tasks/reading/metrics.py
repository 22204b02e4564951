"""Sogou / CMRC2018-style scores: normalised exact match, character F1 on the longest common
substring, Final = (accuracy + F1) / 2, plus precision / recall of answering "no answer"."""
import unicodedata

from nlpkit.metrics import prf


def normalize(text):
    """Full-width -> half-width, lower case, punctuation and spaces removed."""
    out = []
    for ch in text:
        code = ord(ch)
        if code == 0x3000:
            code = 0x20
        elif 0xFF01 <= code <= 0xFF5E:
            code -= 0xFEE0
        ch = chr(code).lower()
        if ch.isspace() or unicodedata.category(ch)[0] == "P":
            continue
        out.append(ch)
    return "".join(out)


def longest_common_substring(a, b):
    best, prev = 0, [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                cur[j + 1] = prev[j] + 1
                best = max(best, cur[j + 1])
        prev = cur
    return best


def char_f1(prediction, gold):
    """F1 of the longest common substring of two normalised strings (both empty: 1)."""
    if not prediction or not gold:
        return float(prediction == gold)
    return prf(longest_common_substring(prediction, gold), len(prediction), len(gold))["f1"]


def score_answer(prediction, golds):
    """(exact match, best F1) of one prediction against gold alternatives ([] = "no answer")."""
    pred = normalize(prediction)
    alternatives = [normalize(g) for g in golds] or [""]
    return float(pred in alternatives), max(char_f1(pred, g) for g in alternatives)


def reading_scores(predictions, gold_lists):
    """Corpus scores: accuracy, f1, final, and no-answer precision / recall."""
    n = len(predictions)
    acc = f1 = 0.0
    said_none = gold_none = both = 0
    for pred, golds in zip(predictions, gold_lists):
        a, f = score_answer(pred, golds)
        acc, f1 = acc + a, f1 + f
        pred_none, is_none = not normalize(pred), not any(normalize(g) for g in golds)
        said_none, gold_none, both = said_none + pred_none, gold_none + is_none, both + (pred_none and is_none)
    acc, f1 = (acc / n, f1 / n) if n else (0.0, 0.0)
    return {
        "final": (acc + f1) / 2,
        "accuracy": acc,
        "f1": f1,
        "no_answer_precision": both / said_none if said_none else 0.0,
        "no_answer_recall": both / gold_none if gold_none else 0.0,
        "questions": n,
        "no_answer_questions": gold_none,
    }
