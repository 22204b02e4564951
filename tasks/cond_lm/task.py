"""cond_lm: a causal BERT language model steered by a condition (a label or any fixed-length vector)
fused into every LayerNorm, as in bert4keras' conditional language model."""
import dataclasses
import math

import torch
from omegaconf import OmegaConf

from nlpkit.data import pad, read_json_lines
from nlpkit.errors import DataError, NlpkitError
from nlpkit.generation import decode_config
from nlpkit.inference import batched, device_of, unwrap, warn_cut
from nlpkit.model import load_backbone
from nlpkit.model.lm import lm_loss, sequence_logprob
from nlpkit.pipelines import ALIASES, option_keys, sanitize
from nlpkit.task import BertTask

from .conditions import Conditions
from .config import PRETRAINED, TINY, CondLMConfig
from .model import CondLM
from .pipeline import CondLMPipeline
from .reader import read_records

#: fields of a request besides the decode settings ("n" is num_return_sequences)
REQUEST_KEYS = ("label", "cond", "n", "prefix", "id")


def label_names(cfg):
    """Display names of raw labels (config label_names) as strings."""
    names = cfg.label_names
    return {str(k): str(v) for k, v in OmegaConf.to_container(names).items()} if names else {}


def candidates(task, model, records):
    """(candidate condition rows (K, d), per record: true row index and the row indices ranked).

    Labels: every label. Vectors: the distinct dev vectors, at most cfg.eval_candidates per text
    (its own plus others drawn reproducibly)."""
    conditions = task.conditions
    if conditions.mode == "label":
        rows = model.label_embedding.weight.detach()
        truth = [conditions.index(r["label"], *_where(r)) for r in records]
        return rows, truth, [list(range(len(rows)))] * len(records)
    distinct = {}
    truth = [distinct.setdefault(tuple(conditions.vector(r["cond"], *_where(r))), len(distinct)) for r in records]
    rows = torch.tensor(list(distinct), dtype=torch.float)
    k = task.cfg.eval_candidates
    if len(rows) <= k:
        return rows, truth, [list(range(len(rows)))] * len(records)
    g = torch.Generator().manual_seed(0)
    ranked = []
    for t in truth:
        others = (torch.randperm(len(rows) - 1, generator=g)[: k - 1]).tolist()
        ranked.append(sorted([t] + [j + (j >= t) for j in others]))  # skip the text's own vector
    return rows, truth, ranked


def likelihoods(model, pad_id, pairs):
    """Log-likelihood and token count of each (text ids, raw condition) pair, as one batch."""
    device = device_of(model)
    ids = pad([i for i, _ in pairs], pad_id).to(device)
    mask = pad([[1] * len(i) for i, _ in pairs], 0).to(device)
    cond = torch.stack([c for _, c in pairs]).to(device)
    lp = sequence_logprob(model(ids, mask, cond=cond), ids, mask)
    return [(lp[j].item(), len(i) - 1) for j, (i, _) in enumerate(pairs)]


class CondLMTask(BertTask):
    """Conditional-LayerNorm generation: text conditioned on a label or any fixed-length vector."""

    name = "cond_lm"
    metric = "cond_accuracy"
    sample = {"train": "sample/sentiment.train.data", "dev": "sample/sentiment.valid.data"}
    config_class, tiny_profile, pretrained_profile = CondLMConfig, TINY, PRETRAINED
    call_options = ("decode",)
    call_extras = ("prefix",)
    pipeline_class = CondLMPipeline

    # ---- data ------------------------------------------------------------------------------
    def read(self, path):
        return read_records(path, self.cfg.max_length, label_names(self.cfg), dict(self.cfg.data.columns))

    def texts(self, records):
        return (r["text"] for r in records)

    def prepare(self, records):
        if "label" in records[0]:
            self.state = {"mode": "label", "labels": sorted({r["label"] for r in records})}
            return
        size = len(records[0]["cond"])
        for r in records:
            if len(r["cond"]) != size:
                raise NlpkitError(f"{r['where']}: field 'cond' has length {len(r['cond'])}, "
                                  f"the first record's has length {size}")
        self.state = {"mode": "vector", "cond_dim": size}

    def check_dev(self, records):
        """Check dev records against what prepare() learnt from train, so that a label unseen in
        training (or a vector of another size) stops the run before training, not after epoch 1."""
        conditions = self.conditions
        for r in records:
            path, line = _where(r)
            if "label" in r and conditions.mode == "label" and r["label"] not in conditions.labels:
                raise DataError(path, line, f"label '{r['label']}' does not occur in the training data "
                                            f"(its labels: {', '.join(conditions.labels)})", "label")
            if "label" in r:
                conditions.index(r["label"], path, line)
            else:
                conditions.vector(r["cond"], path, line)

    @property
    def conditions(self):
        """What the model is conditioned on (its labels or its vectors' size): conditions.py."""
        return Conditions(self.state, label_names(self.cfg))

    def encode(self, record):
        ids = self.tokenizer.encode(record["text"], maxlen=self.cfg.max_length).input_ids
        if "label" in record:
            return {"input_ids": ids, "label": self.conditions.index(record["label"], *_where(record))}
        return {"input_ids": ids, "cond": self.conditions.vector(record["cond"], *_where(record))}

    def collate(self, features):
        batch = {
            "input_ids": pad([f["input_ids"] for f in features], self.tokenizer.pad_id),
            "attention_mask": pad([[1] * len(f["input_ids"]) for f in features], 0),
        }
        if "label" in features[0]:
            batch["labels"] = torch.tensor([f["label"] for f in features])
        else:
            batch["cond"] = torch.tensor([f["cond"] for f in features], dtype=torch.float)
        return batch

    # ---- model -----------------------------------------------------------------------------
    def build_model(self, source):
        bert, cls = load_backbone(source, self.tokenizer, lm_head=True, tiny=self.cfg.tiny)
        if self.conditions.mode == "label":
            return CondLM(bert, cls, self.cfg.label_embedding_size, self.cfg.cond_hidden, len(self.labels))
        return CondLM(bert, cls, self.state["cond_dim"], self.cfg.cond_hidden)

    def loss(self, model, batch):
        logits = model(batch["input_ids"], batch["attention_mask"], labels=batch.get("labels"), cond=batch.get("cond"))
        return lm_loss(logits, batch["input_ids"], batch["attention_mask"])

    def training_records(self, records):
        """The training records (read() already split long texts at sentence punctuation); says once per
        run how many still hold more than max_length tokens (characters that become several tokens)."""
        limit = self.cfg.max_length - 2
        cut = sum(len(self.tokenizer.token_ids(r["text"])) > limit for r in records)
        warn_cut(self, "training texts", cut, len(records), limit, "max_length")
        return records

    # ---- scoring ---------------------------------------------------------------------------
    def eval_predictions(self, model, records, **options):
        """Per gold record: the log-likelihood and token count of its text under each candidate condition
        ({row: (logprob, tokens)}) and its true condition's row."""
        if not records:
            raise NlpkitError("no records to evaluate")
        model = unwrap(model)
        rows, truth, ranked = candidates(self, model, records)
        ids = [self.tokenizer.encode(r["text"], maxlen=self.cfg.max_length).input_ids for r in records]
        pairs = [(i, c) for i, cands in enumerate(ranked) for c in cands]
        pairs.sort(key=lambda p: len(ids[p[0]]))  # little padding
        scored = batched(self, model, pairs, lambda chunk: likelihoods(
            model, self.tokenizer.pad_id, [(ids[i], rows[c]) for i, c in chunk]))
        out = [{"truth": t, "scores": {}} for t in truth]
        for (i, c), result in zip(pairs, scored):
            out[i]["scores"][c] = result
        return out

    def score(self, records, predictions):
        """Conditioning accuracy (the condition under which a text is most likely is its own),
        perplexity under the true condition, overall and per label; rows: each record with its "nll"
        and predicted label (vectors: whether its own vector won)."""
        best = [max(p["scores"], key=lambda c: p["scores"][c][0]) for p in predictions]
        own = [p["scores"][p["truth"]] for p in predictions]
        correct = [b == p["truth"] for b, p in zip(best, predictions)]
        metrics = {"cond_accuracy": sum(correct) / len(records), "perplexity": _ppl(own)}
        label_mode = self.conditions.mode == "label"
        if label_mode:
            for k, name in enumerate(self.labels):
                mine = [i for i, p in enumerate(predictions) if p["truth"] == k]
                if mine:
                    metrics[f"perplexity[{name}]"] = _ppl(own[i] for i in mine)
                    metrics[f"cond_accuracy[{name}]"] = sum(correct[i] for i in mine) / len(mine)
        rows = [{**{k: v for k, v in r.items() if k != "where"}, "nll": -own[i][0] / max(own[i][1], 1),
                 **({"pred_label": self.labels[best[i]]} if label_mode else {"correct": correct[i]})}
                for i, r in enumerate(records)]
        return metrics, rows

    # ---- generation ------------------------------------------------------------------------
    def read_inputs(self, path):
        """`nlpkit predict` input: JSONL {"label": ..., "n": 5} or {"cond": [...]}, optionally
        "prefix" (the text's beginning), "id", and decode settings (top_p, seed, ...)."""
        return [check_request(self, obj, path, no) for no, obj in read_json_lines(path)]

    def as_record(self, item, **options):
        """A pipeline input -> a request: a label (its name or raw value) or a request dict; the
        call's prefix= applies to requests without their own."""
        if isinstance(item, dict):
            record = dict(item)
        elif isinstance(item, (str, int)) and not isinstance(item, bool):
            record = {"label": item}
        else:
            raise NlpkitError(f"cond_lm: expected a label (a string or an integer) or a request dict, got "
                              f"{type(item).__name__}; give a condition vector as cond=[...]")
        if "prefix" in options and "prefix" not in record:
            record["prefix"] = options["prefix"]
        return check_request(self, record)

    def predict_batch(self, model, records, **options):
        """Each request -> {"id"?, "label" (a label model), "texts": [n generated texts]}; a prefix longer
        than max_length - 2 tokens is cut to it (said once per run)."""
        from nlpkit.generation import generate

        jobs = [job(self, model, r, options) for r in records]  # every request is checked before any is decoded
        cut = sum(len(self.tokenizer.token_ids(record["prefix"])) > self.cfg.max_length - 2 for record, *_ in jobs)
        warn_cut(self, "prefixes", cut, len(records), self.cfg.max_length - 2, "max_length")
        out = []
        for record, prompt, config, kwargs in jobs:
            hyps = generate(model, [prompt], config, **kwargs)[0]
            result = {k: record[k] for k in ("id", "label") if k in record}
            result["texts"] = [self.tokenizer.decode(prompt + list(h.ids), source=record["prefix"]) for h in hyps]
            out.append(result)
        return out

    def stream(self, model, record, **options):
        """Yield one generated text piece by piece."""
        from nlpkit.generation import stream

        record, prompt, config, kwargs = job(self, model, record, options)
        config = dataclasses.replace(config, num_return_sequences=1)
        produced = list(prompt)
        shown = self.tokenizer.decode(produced, source=record["prefix"])  # the prefix's rare characters kept
        if shown:
            yield shown
        for token_id in stream(model, prompt, config, **kwargs):
            produced.append(int(token_id))
            text = self.tokenizer.decode(produced, source=record["prefix"])
            if len(text) > len(shown):
                yield text[len(shown):]
                shown = text


def check_request(task, record, path="input", line=None):
    """Validate one predict/pipeline request; returns it normalised: the label's display name,
    the cond vector as floats, "prefix" a string, its decode settings typed and checked."""
    if not isinstance(record, dict):
        raise DataError(path, line, f"expected a JSON object, got {type(record).__name__}")
    decode_keys = set(option_keys(task)) | set(ALIASES)
    unknown = [k for k in record if k not in REQUEST_KEYS and k not in decode_keys]
    if unknown:
        raise DataError(path, line, f"unknown field '{unknown[0]}'; allowed: {', '.join(REQUEST_KEYS)}, "
                                    f"or a decode option ({', '.join(sorted(option_keys(task)))})")
    conditions = task.conditions
    if ("label" in record) == ("cond" in record):
        raise DataError(path, line, f"give exactly one of 'label' and 'cond'; this model takes {conditions.wanted()}")
    out = {k: record[k] for k in ("id",) if k in record}
    if "label" in record:
        out["label"] = conditions.labels[conditions.index(record["label"], path, line)]
    else:
        out["cond"] = conditions.vector(record["cond"], path, line)
    out["prefix"] = record.get("prefix", "")
    if not isinstance(out["prefix"], str):
        raise DataError(path, line, f"expected a string, got {type(out['prefix']).__name__}", "prefix")
    try:
        out.update(sanitize(task, {k: v for k, v in record.items() if k in decode_keys}))
    except NlpkitError as e:
        raise DataError(path, line, str(e)) from None
    return out


def job(task, model, record, options):
    """(the checked request, its prompt ids, its decode settings, generate()'s keywords) of one request.
    Settings: the request's own > the call's options > cfg.decode; the model was trained on texts of at
    most max_length tokens, so it generates no further."""
    record = check_request(task, record)
    tok = task.tokenizer
    prompt = [tok.cls_id] + tok.token_ids(record["prefix"])[: task.cfg.max_length - 2]
    config = decode_config(task.cfg.decode, options, record, skip=(*task.call_extras, *REQUEST_KEYS))
    new = min(config.max_new_tokens, max(1, task.cfg.max_length - len(prompt)))
    config = dataclasses.replace(config, max_new_tokens=new, min_new_tokens=min(config.min_new_tokens, new))
    if "label" in record:
        cond = model.label_embedding.weight[task.labels.index(record["label"])][None].detach()
    else:
        cond = torch.tensor([record["cond"]], dtype=torch.float, device=device_of(model))
    return record, prompt, config, {"mask": "causal", "eos_id": tok.sep_id, "pad_id": tok.pad_id, "cond": cond}


def _where(record):
    path, _, line = record.get("where", "input").rpartition(":")
    return (path, int(line)) if line.isdigit() else (record.get("where", "input"), None)


def _ppl(pairs):
    pairs = list(pairs)
    total = sum(n for _, n in pairs)
    return math.exp(-sum(lp for lp, _ in pairs) / max(total, 1))
