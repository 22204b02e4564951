"""One tokenizer for every task: BERT WordPiece with character offsets.

Loaded from a local checkpoint folder (vocab.txt / tokenizer.json) or, for the default tiny model, built
from training texts: a WordPiece vocabulary trained here (every CJK character its own token; ties broken
by code point, so every process builds the same one), run by the `tokenizers` library.
"""
import heapq
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .errors import NlpkitError

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass
class Encoding:
    input_ids: list
    token_type_ids: list
    #: (start, end) character span of each token in its own text; (0, 0) for special tokens
    offsets: list
    #: which text each token came from: 0 first, 1 second, None for special tokens
    sequence_ids: list = field(default_factory=list)

    def __len__(self):
        return len(self.input_ids)


def is_cjk(ch):
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2FA1F
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _no_space_before(token):
    """CJK characters and punctuation join without spaces when decoding."""
    ch = token[0]
    return is_cjk(ch) or unicodedata.category(ch).startswith("P") or not ch.isascii()


def _is_punctuation(ch):
    """BERT's rule: every ASCII non-alphanumeric character, and Unicode punctuation."""
    return (ch.isascii() and not ch.isalnum() and not ch.isspace()) or unicodedata.category(ch).startswith("P")


def _never_typed(token):
    """A vocabulary entry no text is tokenized into: several characters, the first punctuation."""
    return len(token) > 1 and not token.startswith("##") and _is_punctuation(token[0]) and token != "[UNK]"


def _common_suffix(a, b, limit):
    n = 0
    while n < limit and n < len(a) and n < len(b) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _word_counts(tk, texts):
    """Counter of the words the trainer sees: BERT-normalized, split at spaces, punctuation and CJK.

    Pre-tokenizing each distinct space-separated piece once is much faster than every text in full."""
    pieces = Counter()
    for text in texts:
        if text:
            pieces.update(tk.normalizer.normalize_str(text).split())
    counts = Counter()
    for piece, n in pieces.items():
        for word, _ in tk.pre_tokenizer.pre_tokenize_str(piece):
            counts[word] += n
    return counts


def _wordpiece_vocab(word_counts, vocab_size, min_frequency=1, limit_alphabet=20000):
    """Tokens in id order, as the `tokenizers` WordPiece trainer makes them (specials, alphabet, "##"
    continuation characters, then BPE merges until vocab_size), but every tie broken by code point or id."""
    alphabet = Counter()
    for word, n in word_counts.items():
        for ch in word:
            alphabet[ch] += n
    kept = set(sorted(alphabet, key=lambda c: (-alphabet[c], c))[:limit_alphabet])
    cont = {"##" + ch for word in word_counts for ch in word[1:] if ch in kept}
    vocab = SPECIALS + sorted(kept) + sorted(cont)
    ids = {t: i for i, t in enumerate(vocab)}
    words = [([ids[ch if i == 0 else "##" + ch] for i, ch in enumerate(w) if ch in kept], n)
             for w, n in sorted(word_counts.items())]
    pairs, where = Counter(), defaultdict(set)
    for wi, (symbols, n) in enumerate(words):
        for pair in zip(symbols, symbols[1:]):
            pairs[pair] += n
            where[pair].add(wi)
    heap = [(-n, a, b) for (a, b), n in pairs.items()]
    heapq.heapify(heap)
    while heap and len(vocab) < vocab_size:
        neg, a, b = heapq.heappop(heap)
        n = pairs.get((a, b), 0)
        if n != -neg:  # stale entry: requeue with the current count
            if n > 0:
                heapq.heappush(heap, (-n, a, b))
            continue
        if n < min_frequency:
            break
        token = vocab[a] + vocab[b][2:]
        new = ids.setdefault(token, len(vocab))
        if new == len(vocab):
            vocab.append(token)
        for wi in where.pop((a, b)):
            _merge_word(words, wi, a, b, new, pairs, where, heap)
    return vocab


def _merge_word(words, wi, a, b, new, pairs, where, heap):
    """Replace every (a, b) in word wi by `new`, updating the pair counts and the heap."""
    symbols, n = words[wi]
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    words[wi] = (out, n)
    delta = Counter(zip(out, out[1:]))
    delta.subtract(Counter(zip(symbols, symbols[1:])))
    for pair, d in delta.items():
        if d:
            pairs[pair] += d * n
            if d > 0:
                where[pair].add(wi)
                heapq.heappush(heap, (-pairs[pair], *pair))


def read_vocab_txt(path):
    """Tokens of a vocab.txt in id order: one per line, split at "\\n" only (bert-base-chinese's token
    343 is U+2028, a line break to str.splitlines)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise NlpkitError(f"{path}: cannot read it: {_first_line(e)}") from None
    return text.removesuffix("\n").split("\n") if text else []


def tokenizer_json_tokens(path):
    """Tokens of a WordPiece tokenizer.json in id order; any other model type is refused."""
    import json

    try:
        model = json.loads(Path(path).read_text(encoding="utf-8")).get("model") or {}
        kind, vocab = model.get("type"), model.get("vocab")
    except (OSError, ValueError, AttributeError) as e:
        raise NlpkitError(f"{path}: cannot read it: {_first_line(e)}") from None
    if kind != "WordPiece" or not isinstance(vocab, dict):
        raise NlpkitError(f"{path}: a {kind or 'unknown'} tokenizer; nlpkit reads BERT WordPiece tokenizers only")
    return sorted(vocab, key=vocab.get)


def check_vocab_files(folder):
    """One NlpkitError for a vocabulary nlpkit cannot run: empty, without a special token, or a
    vocab.txt and tokenizer.json that list different tokens (which one is meant?)."""
    lists = {name: read(folder / name) for name, read in (("tokenizer.json", tokenizer_json_tokens),
                                                          ("vocab.txt", read_vocab_txt)) if (folder / name).exists()}
    for name, tokens in lists.items():
        missing = [t for t in SPECIALS if t not in set(tokens)]
        if missing:
            what = "is empty" if not tokens else f"has no {', '.join(missing)}"
            raise NlpkitError(f"{folder / name} {what} (a BERT vocabulary needs {', '.join(SPECIALS)})")
    a, b = list(lists.get("vocab.txt", [])), lists.get("tokenizer.json")
    while a and not a[-1]:  # blank lines at the end of vocab.txt
        a.pop()
    if b is not None and a and a != b:
        i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        raise NlpkitError(f"{folder}: vocab.txt ({len(a)} tokens) and tokenizer.json ({len(b)}) differ from id {i}; "
                          "remove the one that does not belong to the model")


def _first_line(e):
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


class Tokenizer:
    def __init__(self, hf_tokenizer):
        self.hf = hf_tokenizer
        # nlpkit reads a text longer than the model in windows of its own max_length (nlpkit.windows), so
        # transformers' "longer than the specified maximum sequence length" warning is noise on every run
        self.hf.deprecation_warnings["sequence-length-is-longer-than-the-specified-maximum"] = True
        vocab = self.hf.get_vocab()
        self.vocab = vocab
        self.inv_vocab = {i: t for t, i in vocab.items()}
        self.pad_id, self.unk_id = vocab["[PAD]"], vocab["[UNK]"]
        self.cls_id, self.sep_id, self.mask_id = vocab["[CLS]"], vocab["[SEP]"], vocab["[MASK]"]
        #: ids that are not text: the five specials, and tokens no text is split into (a real vocabulary's
        #: [unused1], <S>: several characters starting with punctuation, which BERT always splits off);
        #: never a fill-mask answer or a random replacement
        self.special_ids = {self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id} | {
            i for t, i in vocab.items() if _never_typed(t)}
        #: ids decode() leaves out: all of those but [UNK]
        self.hidden_ids = self.special_ids - {self.unk_id}

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def build(cls, texts, vocab_size=8000, min_frequency=1):
        """Build a WordPiece vocabulary from texts, offline. CJK characters are always single tokens.

        The same texts give the same vocabulary in every process: the `tokenizers` trainer breaks ties
        between equally frequent merges by hash order, so the vocabulary is trained here instead."""
        from tokenizers import BertWordPieceTokenizer
        from transformers import BertTokenizerFast

        options = dict(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
        words = _word_counts(BertWordPieceTokenizer(**options)._tokenizer, texts)
        vocab = _wordpiece_vocab(words, vocab_size, min_frequency)
        wp = BertWordPieceTokenizer({t: i for i, t in enumerate(vocab)}, **options)
        hf = BertTokenizerFast(tokenizer_object=wp._tokenizer, **{k: v for k, v in zip(
            ["pad_token", "unk_token", "cls_token", "sep_token", "mask_token"], SPECIALS)})
        return cls(hf)

    @classmethod
    def from_dir(cls, path):
        """The WordPiece tokenizer of a checkpoint folder: its tokenizer.json when there is one (as
        transformers loads it), else its vocab.txt. Both are checked first (WordPiece, the special
        tokens present, the two listing the same tokens), so a broken folder is one error."""
        from transformers import BertTokenizerFast

        p = Path(path)
        if not ((p / "vocab.txt").exists() or (p / "tokenizer.json").exists()):
            raise NlpkitError(f"{path}: no vocab.txt or tokenizer.json, not a BERT checkpoint folder")
        check_vocab_files(p)
        try:
            hf = BertTokenizerFast.from_pretrained(str(p), local_files_only=True)
        except Exception as e:  # a broken folder must not surface as a hub lookup traceback
            raise NlpkitError(f"{path}: cannot load the tokenizer: {_first_line(e)}") from None
        return cls(hf)

    def save(self, path):
        self.hf.save_pretrained(str(path))
        # vocab.txt too, so tools that only read the classic BERT layout load the run as well
        vocab = sorted(self.vocab.items(), key=lambda kv: kv[1])
        (Path(path) / "vocab.txt").write_text("".join(t + "\n" for t, _ in vocab), encoding="utf-8")

    def __len__(self):
        return len(self.hf)

    @property
    def vocab_size(self):
        return len(self.hf)

    # ---- encoding -----------------------------------------------------------------------------
    def tokenize(self, text):
        return self.hf.tokenize(text)

    def _pieces(self, text):
        enc = self.hf(text, add_special_tokens=False, return_offsets_mapping=True)
        return enc["input_ids"], [tuple(o) for o in enc["offset_mapping"]]

    def token_ids(self, text):
        """Token ids of a text without special tokens."""
        return self.hf(text, add_special_tokens=False)["input_ids"]

    def encode(self, first, second=None, maxlen=None):
        """[CLS] first [SEP] (second [SEP]); the longer side is truncated first to fit maxlen."""
        a_ids, a_off = self._pieces(first)
        b_ids, b_off = self._pieces(second) if second is not None else ([], [])
        if maxlen is not None:
            budget = maxlen - (3 if second is not None else 2)
            if budget < 0:
                raise NlpkitError(f"maxlen={maxlen} is too small for the special tokens")
            na, nb = len(a_ids), len(b_ids)
            while na + nb > budget:
                if na >= nb:
                    na -= 1
                else:
                    nb -= 1
            a_ids, a_off, b_ids, b_off = a_ids[:na], a_off[:na], b_ids[:nb], b_off[:nb]
        ids = [self.cls_id] + a_ids + [self.sep_id]
        offsets = [(0, 0)] + a_off + [(0, 0)]
        seq = [None] + [0] * len(a_ids) + [None]
        types = [0] * len(ids)
        if second is not None:
            ids += b_ids + [self.sep_id]
            offsets += b_off + [(0, 0)]
            seq += [1] * len(b_ids) + [None]
            types += [1] * (len(b_ids) + 1)
        return Encoding(ids, types, offsets, seq)

    def decode(self, ids, skip_special=True, source=None):
        """Token ids -> text, with no spaces between CJK characters. `source`: the text the ids were
        generated from; each [UNK] becomes the characters of it that the vocabulary lacks (copied)."""
        ids = [int(i) for i in ids]
        fills = self._unknown_fills(ids, source) if source else {}
        out = []
        for n, i in enumerate(ids):
            if skip_special and i in self.hidden_ids:
                continue
            if n in fills:
                out.append(fills[n])
                continue
            tok = self.inv_vocab.get(i, "[UNK]")
            if tok.startswith("##"):
                out.append(tok[2:])
            elif out and not (_no_space_before(tok) or _no_space_before(out[-1][-1])):
                out.append(" " + tok)
            else:
                out.append(tok)
        return "".join(out)

    def _unknown_fills(self, ids, source):
        """{position of an [UNK] in ids: the source characters it stands for}. Each [UNK] takes the
        source [UNK] whose preceding tokens match its own longest (up to 3; the first unused one on a
        tie), so a copied name keeps its rare character. Only earlier tokens decide: streaming is stable."""
        src_ids, offsets = self._pieces(source)
        unknown = [j for j, t in enumerate(src_ids) if t == self.unk_id]
        fills, used = {}, set()
        for n, i in enumerate(ids):
            if i != self.unk_id or not unknown:
                continue
            j = max(unknown, key=lambda j: (_common_suffix(ids[:n], src_ids[:j], 3), j not in used, -j))
            used.add(j)
            fills[n] = source[offsets[j][0]:offsets[j][1]]
        return fills

    def id_to_token(self, i):
        return self.inv_vocab.get(int(i), "[UNK]")

    def token_to_id(self, token):
        return self.vocab.get(token, self.unk_id)
