"""jieba's precise mode (`jieba.Tokenizer.cut`, HMM on or off) rebuilt for counting: the same tokens,
with less Python work per character.

jieba builds a DAG dict per block (a `frag in FREQ` and a `FREQ[frag]` lookup per prefix), then a second
pass computes `log(FREQ.get(w) or 1) - logtotal` again for every candidate word inside a generator given
to max(). Here one table maps each dictionary prefix to its log-probability (None: a prefix that is not a
word) and one backward loop does both passes. Every float is computed by the same operations in the same
order, and ties go the same way (jieba's max over (score, end) tuples keeps the largest end), so routes,
and therefore tokens, are identical; `tests/test_wordcount.py` checks it against jieba on fuzzed text
and on People's Daily.
Runs of unknown characters go through jieba's HMM (`jieba.finalseg`) with the same tables; its Viterbi
is unrolled over the four states (B, M, E, S) with jieba's tie-breaking, without dicts or list copies.
"""
from collections import Counter
from functools import lru_cache
from math import log

import jieba
from jieba import finalseg, re_eng, re_han_default, re_skip_default

_ABSENT = object()
_NEG = float("-inf")
B, M, S, E = range(4)  # HMM states: begin, middle, single, end of a word


class FastJieba:
    def __init__(self, tk, hmm=True):
        """tk: an initialised jieba.Tokenizer with its user words added (it must not change afterwards)."""
        tk.check_initialized()
        logtotal = log(tk.total)
        self.freq = tk.FREQ
        # frequencies repeat (~5,000 distinct values for ~500,000 entries): one log per value, the dict in C
        logs = {f: log(f) - logtotal if f else None for f in set(tk.FREQ.values())}
        self.logp = dict(zip(tk.FREQ, map(logs.__getitem__, tk.FREQ.values())))
        self.unknown = log(1) - logtotal  # jieba's score for a lone character that is no word
        self.emit = tuple(finalseg.emit_P[y].get for y in "BMSE")
        self.start = tuple(finalseg.start_P[y] for y in "BMSE")
        self.trans = {(a, b): finalseg.trans_P[a].get(b, finalseg.MIN_FLOAT) for a in "BMSE" for b in "BMSE"}
        self.hmm = hmm

    def tokens(self, text):
        """jieba's tokens of `text`, in order: `tk.lcut(text, HMM=hmm)`."""
        out = []
        for i, blk in enumerate(re_han_default.split(text)):
            if i % 2:  # odd items are the captured runs of Chinese/alphanumerics: the DAG blocks
                self._cut_block(blk, out)
            elif blk:  # the rest: whitespace runs are tokens, every other character is one
                for j, x in enumerate(re_skip_default.split(blk)):
                    if j % 2:
                        out.append(x)
                    else:
                        out.extend(x)
        return out

    def count(self, text):
        """Counter of the tokens of `text` that are not whitespace (callers drop those anyway).

        Each distinct block is cut once per call and its tokens weighted by its number of occurrences;
        characters outside blocks are counted in C."""
        parts = re_han_default.split(text)
        out = []
        for blk, n in Counter(parts[1::2]).items():
            toks = []
            self._cut_block(blk, toks)
            out.extend(toks * n if n > 1 else toks)
        counts = Counter(out)
        counts.update("".join(parts[0::2]))
        for w in [w for w in counts if w.isspace()]:
            del counts[w]
        return counts

    def _route(self, blk):
        """ends[k]: the end of the first word of the best segmentation of blk[k:] (jieba's get_DAG + calc)."""
        get, unknown = self.logp.get, self.unknown
        n = len(blk)
        score = [0.0] * (n + 1)
        ends = [0] * n
        for k in range(n - 1, -1, -1):
            best, end = _NEG, 0
            j = k + 1
            p = get(blk[k], _ABSENT)
            while p is not _ABSENT:
                if p is not None:
                    v = p + score[j]
                    if v >= best:  # >=: on a tie the longer word wins, as in jieba
                        best, end = v, j
                if j == n:
                    break
                j += 1
                p = get(blk[k:j], _ABSENT)
            if end:
                score[k], ends[k] = best, end
            else:  # no word starts here: the character alone
                score[k], ends[k] = unknown + score[k + 1], k + 1
        return ends

    def _cut_block(self, blk, out):
        """jieba's __cut_DAG (HMM) or __cut_DAG_NO_HMM on one block, tokens appended to `out`."""
        ends = self._route(blk)
        n, x, buf = len(blk), 0, None
        if self.hmm:  # runs of single characters go to the HMM unless they form a dictionary word
            while x < n:
                y = ends[x]
                if y - x == 1:
                    if buf is None:
                        buf = x
                else:
                    if buf is not None:
                        self._flush_hmm(blk[buf:x], out)
                        buf = None
                    out.append(blk[x:y])
                x = y
            if buf is not None:
                self._flush_hmm(blk[buf:], out)
            return
        while x < n:  # no HMM: only runs of single ASCII letters/digits are joined
            y = ends[x]
            if y - x == 1 and re_eng.match(blk[x]):
                if buf is None:
                    buf = x
            else:
                if buf is not None:
                    out.append(blk[buf:x])
                    buf = None
                out.append(blk[x:y])
            x = y
        if buf is not None:
            out.append(blk[buf:])

    def _flush_hmm(self, buf, out):
        if len(buf) == 1:
            out.append(buf)
        elif not self.freq.get(buf):
            self._hmm_cut(buf, out)
        else:
            out.extend(buf)

    def _hmm_cut(self, text, out):
        """jieba.finalseg.cut: Chinese runs through the HMM, other runs split into alphanumerics and the rest."""
        force_split = finalseg.Force_Split_Words
        for i, blk in enumerate(finalseg.re_han.split(text)):
            if i % 2:
                for w in self._hmm_words(blk):
                    if w in force_split:
                        out.extend(w)
                    else:
                        out.append(w)
            elif blk:
                out.extend(x for x in finalseg.re_skip.split(blk) if x)

    def _hmm_words(self, obs):
        """finalseg's __cut: the words of the most likely state sequence."""
        states = self._viterbi(obs)
        words, begin, nexti = [], 0, 0
        for i, pos in enumerate(states):
            if pos == B:
                begin = i
            elif pos == E:
                words.append(obs[begin:i + 1])
                nexti = i + 1
            elif pos == S:
                words.append(obs[i])
                nexti = i + 1
        if nexti < len(obs):
            words.append(obs[nexti:])
        return words

    def _viterbi(self, obs):
        """finalseg.viterbi's state path. Scores are summed in jieba's order, (previous + transition) +
        emission, and on a tie jieba's max over (score, state name) keeps the later name (S > M > E > B)."""
        low = finalseg.MIN_FLOAT
        eB, eM, eS, eE = self.emit
        t = self.trans
        tEB, tSB, tMM, tBM, tSS, tES, tBE, tME = (t["E", "B"], t["S", "B"], t["M", "M"], t["B", "M"],
                                                  t["S", "S"], t["E", "S"], t["B", "E"], t["M", "E"])
        c = obs[0]
        sB, sM, sS, sE = self.start
        vB, vM, vS, vE = sB + eB(c, low), sM + eM(c, low), sS + eS(c, low), sE + eE(c, low)
        back = []
        for c in obs[1:]:
            em = eB(c, low)
            a, b = vE + tEB + em, vS + tSB + em
            nB, pB = (b, S) if b >= a else (a, E)
            em = eM(c, low)
            a, b = vM + tMM + em, vB + tBM + em
            nM, pM = (a, M) if a >= b else (b, B)
            em = eS(c, low)
            a, b = vS + tSS + em, vE + tES + em
            nS, pS = (a, S) if a >= b else (b, E)
            em = eE(c, low)
            a, b = vB + tBE + em, vM + tME + em
            nE, pE = (b, M) if b >= a else (a, B)
            back.append((pB, pM, pS, pE))
            vB, vM, vS, vE = nB, nM, nS, nE
        state = S if vS >= vE else E
        states = [state]
        for prev in reversed(back):
            state = prev[state]
            states.append(state)
        states.reverse()
        return states


@lru_cache(maxsize=None)
def fast_jieba(segmenter):
    """The FastJieba of a JiebaSegmenter (built once per process, never changed), or None when the
    installed jieba is not 0.42.x, whose internals this mirrors: then callers use jieba itself."""
    if not jieba.__version__.startswith("0.42"):
        return None
    return FastJieba(segmenter._tk, segmenter.hmm)  # the segmenter's private jieba.Tokenizer
