"""cond_lm: a causal BERT language model steered by a condition (a label or any fixed-length vector)
fused into every LayerNorm, as in bert4keras' conditional language model."""
import math

import torch
from omegaconf import OmegaConf

from nlpkit.data import pad, read_json_lines, write_jsonl
from nlpkit.errors import DataError, NlpkitError
from nlpkit.model import load_backbone
from nlpkit.model.lm import lm_loss, sequence_logprob
from nlpkit.task import Task

from .model import CondLM
from .reader import check_cond, read_records

#: predict-input keys besides the generation settings (cfg.generate's keys)
REQUEST_KEYS = ("label", "cond", "n", "prefix", "id")


class CondLMTask(Task):
    """Conditional-LayerNorm generation: text conditioned on a label or any fixed-length vector."""

    name = "cond_lm"
    metric = "cond_accuracy"
    sample = {"train": "sample/sentiment.train.data", "dev": "sample/sentiment.valid.data"}

    # ---- data ------------------------------------------------------------------------------
    def read(self, path):
        return read_records(path, self.cfg.maxlen, self._label_names())

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
        ids = self.tokenizer.encode(record["text"], maxlen=self.cfg.maxlen).input_ids
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

    def evaluate(self, model, records, output=None, **options):
        """Conditioning accuracy (the condition under which a text is most likely is its own),
        perplexity under the true condition, overall and per label."""
        if not records:
            raise NlpkitError("no records to evaluate")
        rows, truth, ranked = self._candidates(model, records)
        ids = [self.tokenizer.encode(r["text"], maxlen=self.cfg.maxlen).input_ids for r in records]
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
        if output:
            write_jsonl(output, [
                {**{k: v for k, v in r.items() if k != "where"}, "nll": -own[i][0] / max(own[i][1], 1),
                 **({"pred_label": self.labels[best[i][1]]} if self.mode == "label" else {"correct": correct[i]})}
                for i, r in enumerate(records)
            ])
        return metrics

    # ---- generation ------------------------------------------------------------------------
    def check_request(self, record, path="input", line=None):
        """Validate one predict/pipeline request; returns it normalised ("n" an int, "prefix" a string)."""
        if not isinstance(record, dict):
            raise DataError(path, line, f"expected a JSON object, got {type(record).__name__}")
        allowed = REQUEST_KEYS + tuple(self.cfg.generate.keys())
        unknown = [k for k in record if k not in allowed]
        if unknown:
            raise DataError(path, line, f"unknown field '{unknown[0]}'; allowed: {', '.join(allowed)}")
        if ("label" in record) == ("cond" in record):
            wanted = f"'label' (one of {', '.join(self.labels)})" if self.mode == "label" else \
                f"'cond' (a list of {self.state['cond_dim']} numbers)"
            raise DataError(path, line, f"give exactly one of 'label' and 'cond'; this model takes {wanted}")
        out = dict(record)
        if "label" in record:
            out["label"] = self.labels[self.label_index(record["label"], path, line)]
        else:
            out["cond"] = self.cond_vector(record["cond"], path, line)
        n = record.get("n", record.get("num_return_sequences", self.cfg.generate.num_return_sequences))
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise DataError(path, line, f"expected a positive integer, got {n!r}", "n")
        out["n"] = n
        prefix = record.get("prefix", "")
        if not isinstance(prefix, str):
            raise DataError(path, line, f"expected a string, got {type(prefix).__name__}", "prefix")
        out["prefix"] = prefix
        return out

    def read_inputs(self, path):
        """`nlpkit predict` input: JSONL {"label": ..., "n": 5} or {"cond": [...]}, optionally
        "prefix" (the text's beginning), "id", and generation settings (top_p, seed, ...)."""
        return [self.check_request(obj, path, no) for no, obj in read_json_lines(path)]

    def _generation_config(self, record, options, prompt_len):
        from nlpkit.generation import GenerationConfig

        settings = OmegaConf.to_container(self.cfg.generate)
        settings.update({k: v for k, v in record.items() if k in settings})
        settings.update({k: v for k, v in options.items() if k in settings})
        settings["num_return_sequences"] = options.get("n") or options.get("num_return_sequences") or record["n"]
        # the model was trained on texts of at most maxlen tokens: generate no further
        room = max(1, self.cfg.maxlen - prompt_len)
        settings["max_new_tokens"] = min(settings.get("max_new_tokens") or room, room)
        settings["min_new_tokens"] = min(settings.get("min_new_tokens") or 0, settings["max_new_tokens"])
        return GenerationConfig.from_dict(settings)

    def _prompt(self, record):
        prefix_ids = self.tokenizer.token_ids(record["prefix"])[: self.cfg.maxlen - 2]
        return [self.tokenizer.cls_id] + prefix_ids

    def _raw_cond(self, model, record):
        device = next(model.parameters()).device
        if "label" in record:
            return model.label_embedding.weight[self.labels.index(record["label"])][None].detach()
        return torch.tensor([record["cond"]], dtype=torch.float, device=device)

    def _generate_args(self, model, record, options):
        record = self.check_request(record)
        prompt = self._prompt(record)
        config = self._generation_config(record, options, len(prompt))
        tok = self.tokenizer
        kwargs = {"mask": "causal", "eos_id": tok.sep_id, "pad_id": tok.pad_id, "cond": self._raw_cond(model, record)}
        return record, prompt, config, kwargs

    def predict(self, model, records, **options):
        """Each request -> {"label" (or nothing for a vector), "texts": [n generated texts], "id"?}."""
        from nlpkit.generation import generate

        out = []
        for record in records:
            record, prompt, config, kwargs = self._generate_args(model, record, options)
            with torch.no_grad():
                hyps = generate(model, [prompt], config, **kwargs)[0]
            result = {k: record[k] for k in ("id", "label") if k in record}
            result["texts"] = [self.tokenizer.decode(prompt + list(h.ids)) for h in hyps]
            out.append(result)
        return out

    def stream(self, model, record, **options):
        """Yield one generated text piece by piece."""
        from nlpkit.generation import stream

        record, prompt, config, kwargs = self._generate_args(model, record, {**options, "n": 1})
        produced = list(prompt)
        shown = self.tokenizer.decode(produced)
        if shown:
            yield shown
        for token_id in stream(model, prompt, config, **kwargs):
            produced.append(int(token_id))
            text = self.tokenizer.decode(produced)
            if len(text) > len(shown):
                yield text[len(shown):]
                shown = text

    def pipeline(self, model):
        from .pipeline import CondLMPipeline

        return CondLMPipeline(self, model)


def _where(record):
    path, _, line = record.get("where", "input").rpartition(":")
    return (path, int(line)) if line.isdigit() else (record.get("where", "input"), None)


def _ppl(pairs):
    pairs = list(pairs)
    total = sum(n for _, n in pairs)
    return math.exp(-sum(lp for lp, _ in pairs) / max(total, 1))
