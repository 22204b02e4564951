"""Task `mlm`: masked-language-model (domain) pretraining of the shared backbone, jieba whole-word masking."""
import math
from pathlib import Path

import torch
from torch.nn import functional as F

from nlpkit.data import pad, read_json_lines, require
from nlpkit.errors import NlpkitError
from nlpkit.inference import batched, device_of, unwrap, warn_cut
from nlpkit.model import load_backbone
from nlpkit.segmentation import get_segmenter
from nlpkit.task import BertTask

from .config import PRETRAINED, TINY, MlmConfig
from .model import IGNORE, MlmModel, mask_units, mlm_loss
from .reader import Corpus, file_lines

MASK = "[MASK]"
#: digits kept in the fill-mask scores (JSON-friendly, and equal between batch sizes)
DIGITS = 6


def segmenter(cfg):
    """jieba with the config's settings (a bad user dictionary is one error naming the key)."""
    try:
        return get_segmenter("jieba", cfg.jieba.hmm, cfg.jieba.user_dict)
    except NlpkitError as e:
        raise NlpkitError(f"jieba.user_dict={cfg.jieba.user_dict}: {e}") from None


def word_of_char(cfg, line):
    """The jieba word index of each character of `line` (None without wwm)."""
    if not cfg.wwm:
        return None
    return [i for i, word in enumerate(segmenter(cfg).cut(line)) for _ in word]


def fill_input(tokenizer, text, limit):
    """(token ids, [(start, end, position)] of each [MASK]) of a fill-mask text."""
    parts = text.split(MASK)
    if len(parts) == 1:
        raise NlpkitError(f"mlm: no {MASK} to fill in {text!r:.80}")
    ids, masks, at = [tokenizer.cls_id], [], 0
    for i, part in enumerate(parts):
        ids += tokenizer.token_ids(part) if part else []
        at += len(part)
        if i < len(parts) - 1:
            masks.append((at, at + len(MASK), len(ids)))
            ids.append(tokenizer.mask_id)
            at += len(MASK)
    ids.append(tokenizer.sep_id)
    if len(ids) > limit:
        raise NlpkitError(f"mlm: {len(ids)} tokens, longer than the model's {limit} positions: {text!r:.80}")
    return ids, masks


def fill_candidates(tokenizer, text, span, scores, tokens):
    """The top-k fills of one [MASK] at `span` of `text`, as transformers' fill-mask pipeline gives them."""
    start, end, _ = span
    rows = []
    for score, token in zip(scores.tolist(), tokens.tolist()):
        token_str = tokenizer.id_to_token(token)
        fill = token_str[2:] if token_str.startswith("##") else token_str
        rows.append({"score": round(score, DIGITS), "token": token, "token_str": token_str,
                     "sequence": text[:start] + fill + text[end:], "start": start, "end": end})
    return rows


class MlmTask(BertTask):
    """Pretraining on plain text; fill-mask for predict / pipeline."""

    name = "mlm"
    metric = "masked_accuracy"
    sample = {"train": "sample/train.txt", "dev": "sample/dev.txt"}
    config_class, tiny_profile, pretrained_profile = MlmConfig, TINY, PRETRAINED
    call_options = ("top_k",)
    checkpoint_is_model = True  # a published checkpoint's MLM head fills masks and is scored as it is

    def __init__(self, cfg, state=None):
        super().__init__(cfg, state)
        self._dev = (None, None)  # (corpus key, encoded features): dev is encoded once per run

    # ---- data ------------------------------------------------------------------------------
    def read(self, path):
        if self.cfg.wwm:
            segmenter(self.cfg)  # a bad user dictionary stops the run before anything is read or written
        return Corpus(path, self.cfg.max_length)

    def read_inputs(self, path):
        """Fill-mask inputs: JSONL records with a "text", else one text a line (blank lines skipped)."""
        if Path(path).suffix.lower() in (".json", ".jsonl"):
            return [{**obj, "text": require(obj, "text", path, no)} for no, obj in read_json_lines(path)]
        return [{"text": line} for _, line in file_lines(path) if line.strip()]

    def texts(self, records):
        for record in records:
            yield from record["lines"]

    # ---- encoding --------------------------------------------------------------------------
    def encode(self, record):
        """[CLS] line [SEP] line [SEP] ...; `units` numbers the maskable units (jieba words with wwm,
        else tokens) from 0, -1 for [CLS]/[SEP]."""
        tok = self.tokenizer
        ids, units, unit = [tok.cls_id], [-1], -1
        for line in record["lines"]:
            enc = tok.encode(line)
            words = word_of_char(self.cfg, line)
            last = None
            for token, (start, _) in zip(enc.input_ids[1:-1], enc.offsets[1:-1]):
                key = words[start] if words is not None and start < len(words) else object()
                unit += key != last  # a new word (or, without wwm, every token) is a new unit
                last = key
                ids.append(token)
                units.append(unit)
            ids.append(tok.sep_id)
            units.append(-1)
        if len(ids) > self.cfg.max_length:  # only for characters that normalise into several tokens
            warn_cut(self, "packed text(s) whose characters make more tokens than characters", 1, None,
                     self.cfg.max_length, "max_length", "their last tokens are not trained on")
            ids, units = ids[: self.cfg.max_length - 1] + [tok.sep_id], units[: self.cfg.max_length - 1] + [-1]
        return {"input_ids": ids, "units": units}

    def collate(self, features, generator=None):
        ids = pad([f["input_ids"] for f in features], self.tokenizer.pad_id)
        units = pad([f["units"] for f in features], -1)
        inputs, labels = mask_units(ids, units, (self.cfg.mask_prob, self.cfg.replace_mask, self.cfg.replace_random),
                                    self.tokenizer.mask_id, self._random_ids(), generator)
        attention = pad([[1] * len(f["input_ids"]) for f in features], 0)
        return {"input_ids": inputs, "attention_mask": attention, "labels": labels}

    def _random_ids(self):
        """What a randomly replaced token becomes: any token but the special ones (once per tokenizer)."""
        tok = self.tokenizer
        if getattr(self, "_random", (None,))[0] is not tok:
            self._random = (tok, torch.tensor([i for i in range(len(tok)) if i not in tok.special_ids]))
        return self._random[1]

    # ---- model -----------------------------------------------------------------------------
    def build_model(self, source):
        bert, head = load_backbone(source, self.tokenizer, lm_head=True, tiny=self.cfg.tiny)
        return MlmModel(bert, head)

    def loss(self, model, batch):
        return mlm_loss(model, batch)

    # ---- evaluation ------------------------------------------------------------------------
    def check_dev(self, records):
        """Read and encode the whole dev corpus now (evaluate reuses it): a corrupt file (bad UTF-8, a
        broken archive) stops the run before step 1, not after its first epoch."""
        if not self._features(records):
            raise NlpkitError(f"mlm: no text to evaluate on in data.dev={self.cfg.data.dev}")

    def eval_predictions(self, model, records, **options):
        """Per gold record: its masked positions' gold and predicted tokens and the summed loss, masks drawn
        from cfg.seed (the same every epoch)."""
        features = self._features(records)
        if not features:
            raise NlpkitError("mlm: no text to evaluate on")
        generator = torch.Generator().manual_seed(self.cfg.seed)
        model = unwrap(model)

        def run(chunk):
            batch = {k: v.to(device_of(model)) for k, v in self.collate(chunk, generator).items()}
            chosen = batch["labels"] != IGNORE
            logits = model(batch["input_ids"], batch["attention_mask"], chosen).float()
            gold = batch["labels"][chosen]
            losses = F.cross_entropy(logits, gold, reduction="none").tolist()
            rows, at = [], 0
            for n in chosen.sum(1).tolist():  # the chosen positions, row by row
                rows.append({"gold": gold[at : at + n].tolist(), "pred": logits[at : at + n].argmax(-1).tolist(),
                             "loss": sum(losses[at : at + n])})
                at += n
            return rows

        return batched(self, model, features, run)

    def score(self, records, predictions):
        """Masked-token accuracy and perplexity; rows: each record's lines with its masked tokens (gold and
        predicted) and their mean loss."""
        count = sum(len(p["gold"]) for p in predictions)
        correct = sum(g == q for p in predictions for g, q in zip(p["gold"], p["pred"]))
        loss = sum(p["loss"] for p in predictions) / count
        metrics = {"masked_accuracy": correct / count, "perplexity": math.exp(min(loss, 50.0)), "loss": loss,
                   "masked_tokens": count}
        token = self.tokenizer.id_to_token
        rows = [{"lines": r["lines"], "loss": p["loss"] / max(len(p["gold"]), 1),
                 "masked": [{"gold": token(g), "pred": token(q)} for g, q in zip(p["gold"], p["pred"])]}
                for r, p in zip(records, predictions)]
        return metrics, rows

    def _features(self, records):
        key = str(records)
        if self._dev[0] != key:
            self._dev = (key, [self.encode(r) for r in records])
        return self._dev[1]

    # ---- fill-mask -------------------------------------------------------------------------
    def predict_batch(self, model, records, top_k=None, **options):
        """Per text, as transformers' fill-mask pipeline: one [MASK] -> its top_k candidates
        {"score", "token", "token_str", "sequence", "start", "end"} (start/end: the [MASK]'s characters in
        the text; sequence: the text with that [MASK] filled); several [MASK]s -> one such list each."""
        top_k = self.cfg.top_k if top_k is None else top_k
        tok = self.tokenizer
        limit = model.bert.config.max_position_embeddings
        inputs = [fill_input(tok, r["text"], limit) for r in records]
        device = device_of(model)
        ids = pad([i for i, _ in inputs], tok.pad_id).to(device)
        attention = pad([[1] * len(i) for i, _ in inputs], 0).to(device)
        positions = torch.zeros(ids.shape, dtype=torch.bool)
        for row, (_, masks) in enumerate(inputs):
            positions[row, [p for _, _, p in masks]] = True
        probs = torch.softmax(model(ids, attention, positions.to(device)).float(), -1).cpu()
        probs[:, sorted(tok.special_ids)] = 0  # never fill a mask with [PAD], [CLS], ...
        scores, tokens = probs.topk(min(top_k, probs.shape[-1]), -1)
        out, n = [], 0
        for record, (_, masks) in zip(records, inputs):
            filled = [fill_candidates(tok, record["text"], span, scores[n + k], tokens[n + k])
                      for k, span in enumerate(masks)]
            n += len(masks)
            out.append(filled[0] if len(filled) == 1 else filled)
        return out

    def output_rows(self, records, predictions):
        return [{**r, "predictions": p} for r, p in zip(records, predictions)]
