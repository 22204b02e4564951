"""cond_lm: a causal BERT language model steered by a condition (a label or any fixed-length vector)
fused into every LayerNorm, as in bert4keras' conditional language model."""
import dataclasses
import math

import torch
from omegaconf import OmegaConf

from nlpkit.config import DecodeConfig
from nlpkit.data import pad, read_json_lines, write_jsonl
from nlpkit.errors import DataError, NlpkitError
from nlpkit.model import load_backbone
from nlpkit.model.lm import lm_loss, sequence_logprob
from nlpkit.pipelines import ALIASES, option_keys, sanitize
from nlpkit.task import BertTask

from .config import PRETRAINED, TINY, CondLMConfig
from .model import CondLM
from .reader import check_cond, read_records

#: fields of a request besides the decode settings ("n" is num_return_sequences)
REQUEST_KEYS = ("label", "cond", "n", "prefix", "id")
DECODE_KEYS = tuple(f.name for f in dataclasses.fields(DecodeConfig))


class CondLMTask(BertTask):
    """Conditional-LayerNorm generation: text conditioned on a label or any fixed-length vector."""

    name = "cond_lm"
    metric = "cond_accuracy"
    sample = {"train": "sample/sentiment.train.data", "dev": "sample/sentiment.valid.data"}
    config_class, tiny_profile, pretrained_profile = CondLMConfig, TINY, PRETRAINED
    call_options = ("decode",)
    call_extras = ("prefix",)

    # ---- data ------------------------------------------------------------------------------
    def read(self, path):
        return read_records(path, self.cfg.max_length, self._label_names(), dict(self.cfg.data.columns))

    def _label_names(self):
        names = self.cfg.label_names
        return {str(k): str(v) for k, v in OmegaConf.to_container(names).items()} if names else {}

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
        for r in records:
            path, line = _where(r)
            if "label" in r and self.mode == "label" and r["label"] not in self.labels:
                raise DataError(path, line, f"label '{r['label']}' does not occur in the training data "
                                            f"(its labels: {', '.join(self.labels)})", "label")
            if "label" in r:
                self.label_index(r["label"], path, line)
            else:
                self.cond_vector(r["cond"], path, line)

    @property
    def mode(self):
        if "mode" not in self.state:
            raise NlpkitError("cond_lm: no task state (labels / condition size); prepare() on training data first")
        return self.state["mode"]

    @property
    def labels(self):
        return self.state.get("labels", [])

    def label_index(self, label, path="input", line=None):
        """Index of a label given by name or by its raw value in the data (e.g. 1 for "正面")."""
        if self.mode != "label":
            raise DataError(path, line, f"this model is conditioned on vectors: give 'cond' "
                                        f"(a list of {self.state['cond_dim']} numbers), not 'label'", "label")
        name = self._label_names().get(str(label), str(label))
        if name not in self.labels:
            raise DataError(path, line, f"unknown label '{label}'; known labels: {', '.join(self.labels)}", "label")
        return self.labels.index(name)

    def cond_vector(self, values, path="input", line=None):
        if self.mode != "vector":
            raise DataError(path, line, f"this model is conditioned on labels: give 'label' "
                                        f"(one of {', '.join(self.labels)}), not 'cond'", "cond")
        return check_cond(values, path, line, size=self.state["cond_dim"])

    def encode(self, record):
        ids = self.tokenizer.encode(record["text"], maxlen=self.cfg.max_length).input_ids
        if "label" in record:
            return {"input_ids": ids, "label": self.label_index(record["label"], *_where(record))}
        return {"input_ids": ids, "cond": self.cond_vector(record["cond"], *_where(record))}

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
        if self.mode == "label":
            return CondLM(bert, cls, self.cfg.label_embedding_size, self.cfg.cond_hidden, len(self.labels))
        return CondLM(bert, cls, self.state["cond_dim"], self.cfg.cond_hidden)

    def loss(self, model, batch):
        logits = model(batch["input_ids"], batch["attention_mask"], labels=batch.get("labels"), cond=batch.get("cond"))
        return lm_loss(logits, batch["input_ids"], batch["attention_mask"])

    # ---- scoring ---------------------------------------------------------------------------
    @torch.no_grad()
    def score(self, model, id_lists, conds):
        """Log-likelihood and token count of each text `id_lists[i]` under raw condition `conds[i]`."""
        device = next(model.parameters()).device
        size = self.cfg.trainer.eval_batch_size
        order = sorted(range(len(id_lists)), key=lambda i: len(id_lists[i]))  # little padding
        logp, count = [0.0] * len(id_lists), [0] * len(id_lists)
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            ids = pad([id_lists[i] for i in idx], self.tokenizer.pad_id).to(device)
            mask = pad([[1] * len(id_lists[i]) for i in idx], 0).to(device)
            cond = torch.stack([conds[i] for i in idx]).to(device)
            lp = sequence_logprob(model(ids, mask, cond=cond), ids, mask)
            for j, i in enumerate(idx):
                logp[i], count[i] = lp[j].item(), len(id_lists[i]) - 1
        return logp, count

    def _candidates(self, model, records):
        """(candidate condition rows (K, d), per record: true row index and the row indices ranked).

        Labels: every label. Vectors: the distinct dev vectors, at most cfg.eval_candidates per text
        (its own plus others drawn reproducibly)."""
        if self.mode == "label":
            rows = model.label_embedding.weight.detach()
            truth = [self.label_index(r["label"], *_where(r)) for r in records]
            return rows, truth, [list(range(len(rows)))] * len(records)
        distinct = {}
        truth = [distinct.setdefault(tuple(self.cond_vector(r["cond"], *_where(r))), len(distinct)) for r in records]
        rows = torch.tensor(list(distinct), dtype=torch.float)
        k = self.cfg.eval_candidates
        if len(rows) <= k:
            return rows, truth, [list(range(len(rows)))] * len(records)
        g = torch.Generator().manual_seed(0)
        ranked = []
        for t in truth:
            others = (torch.randperm(len(rows) - 1, generator=g)[: k - 1]).tolist()
            ranked.append(sorted([t] + [j + (j >= t) for j in others]))  # skip the text's own vector
        return rows, truth, ranked

    def evaluate(self, model, records, **options):
        """Conditioning accuracy (the condition under which a text is most likely is its own),
        perplexity under the true condition, overall and per label."""
        if not records:
            raise NlpkitError("no records to evaluate")
        rows, truth, ranked = self._candidates(model, records)
        ids = [self.tokenizer.encode(r["text"], maxlen=self.cfg.max_length).input_ids for r in records]
        pairs = [(i, c) for i, cands in enumerate(ranked) for c in cands]
        logp, count = self.score(model, [ids[i] for i, _ in pairs], [rows[c] for _, c in pairs])
        best, own = {}, {}
        for (i, c), lp, n in zip(pairs, logp, count):
            if i not in best or lp > best[i][0]:
                best[i] = (lp, c)
            if c == truth[i]:
                own[i] = (lp, n)
        correct = [best[i][1] == truth[i] for i in range(len(records))]
        metrics = {"cond_accuracy": sum(correct) / len(records), "perplexity": _ppl(own.values())}
        if self.mode == "label":
            for k, name in enumerate(self.labels):
                mine = [own[i] for i in range(len(records)) if truth[i] == k]
                if mine:
                    metrics[f"perplexity[{name}]"] = _ppl(mine)
                    metrics[f"cond_accuracy[{name}]"] = sum(correct[i] for i in range(len(records)) if truth[i] == k) / len(mine)
        if self.cfg.eval_output:
            write_jsonl(self.cfg.eval_output, [
                {**{k: v for k, v in r.items() if k != "where"}, "nll": -own[i][0] / max(own[i][1], 1),
                 **({"pred_label": self.labels[best[i][1]]} if self.mode == "label" else {"correct": correct[i]})}
                for i, r in enumerate(records)
            ])
        return metrics

    # ---- generation ------------------------------------------------------------------------
    def check_request(self, record, path="input", line=None):
        """Validate one predict/pipeline request; returns it normalised: the label's display name,
        the cond vector as floats, "prefix" a string, its decode settings typed and checked."""
        if not isinstance(record, dict):
            raise DataError(path, line, f"expected a JSON object, got {type(record).__name__}")
        decode_keys = set(option_keys(self)) | set(ALIASES)
        unknown = [k for k in record if k not in REQUEST_KEYS and k not in decode_keys]
        if unknown:
            raise DataError(path, line, f"unknown field '{unknown[0]}'; allowed: {', '.join(REQUEST_KEYS)}, "
                                        f"or a decode option ({', '.join(sorted(option_keys(self)))})")
        if ("label" in record) == ("cond" in record):
            wanted = f"'label' (one of {', '.join(self.labels)})" if self.mode == "label" else \
                f"'cond' (a list of {self.state['cond_dim']} numbers)"
            raise DataError(path, line, f"give exactly one of 'label' and 'cond'; this model takes {wanted}")
        out = {k: record[k] for k in ("id",) if k in record}
        if "label" in record:
            out["label"] = self.labels[self.label_index(record["label"], path, line)]
        else:
            out["cond"] = self.cond_vector(record["cond"], path, line)
        out["prefix"] = record.get("prefix", "")
        if not isinstance(out["prefix"], str):
            raise DataError(path, line, f"expected a string, got {type(out['prefix']).__name__}", "prefix")
        try:
            out.update(sanitize(self, {k: v for k, v in record.items() if k in decode_keys}))
        except NlpkitError as e:
            raise DataError(path, line, str(e)) from None
        return out

    def read_inputs(self, path):
        """`nlpkit predict` input: JSONL {"label": ..., "n": 5} or {"cond": [...]}, optionally
        "prefix" (the text's beginning), "id", and decode settings (top_p, seed, ...)."""
        return [self.check_request(obj, path, no) for no, obj in read_json_lines(path)]

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
        return record

    def _decode_config(self, record, options, prompt_len):
        """Settings: the request's own > the call's options > cfg.decode."""
        settings = OmegaConf.to_container(self.cfg.decode)
        settings.update({k: v for k, v in options.items() if k in DECODE_KEYS})
        settings.update({k: v for k, v in record.items() if k in DECODE_KEYS})
        # the model was trained on texts of at most max_length tokens: generate no further
        room = max(1, self.cfg.max_length - prompt_len)
        settings["max_new_tokens"] = min(settings["max_new_tokens"], room)
        settings["min_new_tokens"] = min(settings["min_new_tokens"], settings["max_new_tokens"])
        return DecodeConfig.from_dict(settings)

    def _prompt(self, record):
        prefix_ids = self.tokenizer.token_ids(record["prefix"])[: self.cfg.max_length - 2]
        return [self.tokenizer.cls_id] + prefix_ids

    def _raw_cond(self, model, record):
        device = next(model.parameters()).device
        if "label" in record:
            return model.label_embedding.weight[self.labels.index(record["label"])][None].detach()
        return torch.tensor([record["cond"]], dtype=torch.float, device=device)

    def _job(self, model, record, options):
        record = self.check_request(record)
        prompt = self._prompt(record)
        config = self._decode_config(record, options, len(prompt))
        tok = self.tokenizer
        kwargs = {"mask": "causal", "eos_id": tok.sep_id, "pad_id": tok.pad_id, "cond": self._raw_cond(model, record)}
        return record, prompt, config, kwargs

    def predict(self, model, records, **options):
        """Each request -> {"id"?, "label" (a label model), "texts": [n generated texts]}."""
        from nlpkit.generation import generate

        jobs = [self._job(model, r, options) for r in records]  # every request is checked before any is decoded
        out = []
        for record, prompt, config, kwargs in jobs:
            with torch.no_grad():
                hyps = generate(model, [prompt], config, **kwargs)[0]
            result = {k: record[k] for k in ("id", "label") if k in record}
            result["texts"] = [self.tokenizer.decode(prompt + list(h.ids), source=record["prefix"]) for h in hyps]
            out.append(result)
        return out

    def stream(self, model, record, **options):
        """Yield one generated text piece by piece."""
        from nlpkit.generation import stream

        record, prompt, config, kwargs = self._job(model, record, options)
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

    def pipeline(self, model, **defaults):
        from .pipeline import CondLMPipeline

        return CondLMPipeline(self, model, **defaults)


def _where(record):
    path, _, line = record.get("where", "input").rpartition(":")
    return (path, int(line)) if line.isdigit() else (record.get("where", "input"), None)


def _ppl(pairs):
    pairs = list(pairs)
    total = sum(n for _, n in pairs)
    return math.exp(-sum(lp for lp, _ in pairs) / max(total, 1))
