"""A trained JoSE model: unit word, context and document vectors with the vocabulary and the settings
needed to embed new text the same way.

Files of a model folder:
  vectors.safetensors   words, contexts, docs (float32, unit rows), doc_keys, counts (int64)
  vocab.tsv             word<TAB>count, one line per row of `words` / `contexts`
  jose.json             segmentation and training settings (infer_vector uses them)
  words.txt, contexts.txt, docs.txt   the same vectors in word2vec text format (optional; gensim
                        KeyedVectors.load_word2vec_format reads them; document keys are 0-based line numbers)
"""
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from nlpkit.data import atomic_path, write_text
from nlpkit.errors import NlpkitError

from .corpus import Vocab
from .segment import Splitter
from .train import infer_vectors

VECTORS, VOCAB, SETTINGS = "vectors.safetensors", "vocab.tsv", "jose.json"
TEXT_FILES = {"words": "words.txt", "contexts": "contexts.txt", "docs": "docs.txt"}
FORMAT = "nlpkit-jose/1"


class JoseModel:
    def __init__(self, vocab, words, contexts, docs, doc_keys, settings=None):
        self.vocab = vocab
        self.words = F.normalize(torch.as_tensor(words, dtype=torch.float32), dim=1)
        self.contexts = F.normalize(torch.as_tensor(contexts, dtype=torch.float32), dim=1)
        self.docs = F.normalize(torch.as_tensor(docs, dtype=torch.float32), dim=1)
        self.doc_keys = torch.as_tensor(doc_keys, dtype=torch.long)
        self.settings = dict(settings or {})
        self._doc_row = {int(k): i for i, k in enumerate(self.doc_keys.tolist())}
        self._splitter = None

    # ---- lookups ------------------------------------------------------------------------------
    @property
    def index(self):
        return self.vocab.index

    @property
    def dim(self):
        return self.words.shape[1]

    def __contains__(self, word):
        return word in self.vocab.index

    def word_vector(self, word):
        return self.words[self._row(word)].numpy().copy()

    def _row(self, word):
        row = self.vocab.index.get(word)
        if row is None:
            raise KeyError(f"'{word}' is not in the vocabulary ({len(self.vocab)} words, min_count "
                           f"{self.settings.get('min_count', '?')})")
        return row

    def similarity(self, a, b):
        """Cosine similarity of two words' vectors."""
        return float(self.words[self._row(a)] @ self.words[self._row(b)])

    def most_similar(self, word, topn=10):
        """[(word, cosine)] nearest to a word (itself excluded) or to a vector, most similar first."""
        if isinstance(word, str):
            row = self._row(word)
            return [(self.vocab.words[i], c) for i, c in _nearest(self.words, self.words[row], topn, row)]
        return [(self.vocab.words[i], c) for i, c in _nearest(self.words, word, topn)]

    def has_doc(self, key):
        return int(key) in self._doc_row

    def doc_vector(self, key):
        """Vector of training document `key` (its 0-based line number)."""
        return self.docs[self._doc_index(key)].numpy().copy()

    def _doc_index(self, key):
        """Row in self.docs of training document `key`; a KeyError that says why when it has none."""
        row = self._doc_row.get(int(key))
        if row is None:
            n = self.settings.get("lines")
            why = f"line {key} is past the corpus ({n} lines)" if n is not None and not 0 <= key < n else (
                f"line {key} has no vector: it was empty or all its words are rarer than min_count")
            raise KeyError(why)
        return row

    def most_similar_docs(self, query, topn=10):
        """[(document key, cosine)] nearest to a training document key (itself excluded) or to a vector."""
        if isinstance(query, (int, np.integer)):
            row = self._doc_index(query)
            found = _nearest(self.docs, self.docs[row], topn, row)
        else:
            found = _nearest(self.docs, query, topn)
        return [(int(self.doc_keys[i]), c) for i, c in found]

    # ---- new documents -------------------------------------------------------------------------
    def tokenize(self, text):
        """The in-vocabulary words of a text, segmented as the training corpus was."""
        if self._splitter is None:
            s = self.settings
            self._splitter = Splitter(s.get("segmented", False), s.get("tokenizer", "jieba"), s.get("hmm", True),
                                      s.get("user_dict"))
        return [w for w in self._splitter(text) if w in self.vocab.index]

    def infer_vectors(self, texts, epochs=None, seed=None):
        """(n, dim) vectors for new documents (strings, or lists of words), optimised with the word
        vectors frozen. A text without any known word gets a zero vector."""
        docs = [[self.vocab.index[w] for w in (self.tokenize(t) if isinstance(t, str) else t) if w in self.vocab.index]
                for t in texts]
        s = self.settings
        D = infer_vectors(self.words, docs, self.vocab.counts, negative=s.get("negative", 2),
                          margin=s.get("margin", 0.15), alpha=s.get("alpha", 0.04),
                          epochs=epochs or s.get("infer_epochs", 50), sample=s.get("sample", 1e-3),
                          seed=s.get("seed", 1) if seed is None else seed)
        empty = torch.tensor([not d for d in docs], dtype=torch.bool)
        D[empty] = 0
        return D.numpy()

    def infer_vector(self, text, epochs=None, seed=None):
        return self.infer_vectors([text], epochs, seed)[0]

    # ---- files ---------------------------------------------------------------------------------
    def save(self, folder, text=True):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"words": self.words, "contexts": self.contexts, "docs": self.docs, "doc_keys": self.doc_keys,
                   "counts": torch.as_tensor(self.vocab.counts, dtype=torch.long)}
        with atomic_path(folder / VECTORS) as tmp:
            save_file({k: v.contiguous() for k, v in tensors.items()}, tmp, metadata={"format": FORMAT})
        with atomic_path(folder / VOCAB) as tmp:
            self.vocab.save(tmp)
        write_text(folder / SETTINGS, json.dumps(self.settings, ensure_ascii=False, indent=2) + "\n")
        if text:
            write_word2vec(folder / TEXT_FILES["words"], self.vocab.words, self.words)
            write_word2vec(folder / TEXT_FILES["contexts"], self.vocab.words, self.contexts)
            write_word2vec(folder / TEXT_FILES["docs"], [str(k) for k in self.doc_keys.tolist()], self.docs)

    @classmethod
    def load(cls, folder):
        folder = Path(folder)
        missing = [n for n in (VECTORS, VOCAB) if not (folder / n).exists()]
        if missing:
            raise NlpkitError(f"{folder}: not a JoSE model folder (missing {', '.join(missing)})")
        try:
            t = load_file(str(folder / VECTORS))
        except Exception as e:  # a truncated or foreign file
            raise NlpkitError(f"{folder / VECTORS}: cannot read ({e})") from None
        need = {"words", "contexts", "docs", "doc_keys"}
        if not need <= set(t):
            raise NlpkitError(f"{folder / VECTORS}: missing tensors {sorted(need - set(t))}")
        vocab = Vocab.load(folder / VOCAB)
        if len(vocab) != len(t["words"]) or t["words"].shape != t["contexts"].shape:
            raise NlpkitError(f"{folder}: {VOCAB} has {len(vocab)} words but {VECTORS} holds "
                              f"{len(t['words'])} word vectors")
        if len(t["docs"]) != len(t["doc_keys"]):
            raise NlpkitError(f"{folder / VECTORS}: {len(t['docs'])} document vectors but {len(t['doc_keys'])} keys")
        settings = json.loads((folder / SETTINGS).read_text(encoding="utf-8")) if (folder / SETTINGS).exists() else {}
        return cls(vocab, t["words"], t["contexts"], t["docs"], t["doc_keys"], settings)


def write_word2vec(path, keys, vectors, chunk=4096):
    """word2vec text format: a "count dim" header, then "key v1 ... vdim" per line."""
    vectors = vectors.numpy()
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(f"{len(keys)} {vectors.shape[1]}\n")
        for s in range(0, len(keys), chunk):
            block = np.char.mod("%.6f", vectors[s : s + chunk])
            f.write("".join(k + " " + " ".join(row) + "\n" for k, row in zip(keys[s : s + chunk], block)))


def _nearest(matrix, query, topn, exclude=None):
    """[(row, cosine)] of the unit rows of `matrix` nearest to `query` (normalised here), leaving out
    row `exclude`; most similar first."""
    query = F.normalize(torch.as_tensor(np.asarray(query), dtype=torch.float32), dim=0)
    sims = matrix @ query
    if exclude is not None:
        sims[exclude] = -float("inf")
    top = sims.topk(min(topn, len(sims) - (exclude is not None)))
    return list(zip(top.indices.tolist(), top.values.tolist()))
