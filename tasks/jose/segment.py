"""Lines to words. Kept apart from torch and numpy: segmenting worker processes import only this
module (and the package's light __init__), so they start in a fraction of a second."""


class Splitter:
    """line -> list of words with the shared segmenter, or whitespace splitting for a corpus that is
    segmented already. Whitespace-only tokens are dropped (jieba returns spaces as tokens), so a word
    never contains whitespace and the word2vec text format stays parseable. Pickles as its settings."""

    def __init__(self, segmented=False, tokenizer="jieba", hmm=True, user_dict=None):
        self.segmented, self.tokenizer, self.hmm, self.user_dict = bool(segmented), tokenizer, bool(hmm), user_dict
        self._seg = None

    def __call__(self, line):
        if self.segmented:
            return line.split()
        if self._seg is None:
            from nlpkit.segmentation import get_segmenter

            self._seg = get_segmenter(self.tokenizer, self.hmm, self.user_dict)
        return [w for t in self._seg.cut(line) for w in t.split()]

    def __getstate__(self):
        return {**self.__dict__, "_seg": None}


def split_batch(args):
    """Worker-process job: (splitter, lines) -> list of word lists."""
    splitter, lines = args
    return [splitter(line) for line in lines]
