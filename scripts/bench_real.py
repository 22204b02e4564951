"""nlpkit next to what a user would otherwise pick, on REAL public data (issues 15, 23): same split, same
model size, vocabulary and token ids, same epochs and batch size, the same learning-rate rule, same scorer.

    python scripts/real_data.py                   # once: writes data/real/ (see its docstring)
    python scripts/bench_real.py [--only triples,ner,classify,cond_lm,seq2seq,jose,wordcount,mlm,reading,nl2sql]
                                 [--budget small|medium|full] [--threads N] [--jose-bin PATH] [--no-sweep]
                                 [--limit N] [--epochs N] [--skip TEXT] [--workdir DIR]

Prints one table, and last one JSON object with every figure, the version of every library
(`versions`, and per row `libraries`), nlpkit's git commit (`nlpkit_commit`, "+dirty" when tracked
files differ from it) and the machine's 1-minute load average at the start and end of every row.
Every system trains in a fresh child process with N torch / OpenMP threads (--threads, default 1),
one system at a time.

Equal inputs, proven in the code. Before a peer trains, its runner hands its own tokenizer call (the
one that feeds its model) to bench_peers.common.check_inputs: its token ids must equal nlpkit's (the
tokenizer of nlpkit's run on the same training file) on the first 200 training texts, and its label
set must equal nlpkit's (the run's task_state.json); a mismatch stops that row with one line naming
the first differing text. (An earlier transformers peer built `BertTokenizerFast(vocab_file=...)`,
which transformers 5 ignores: it saw 5 special tokens and learnt from review length alone.)

Equal recipe rules. Each system keeps its own published optimizer and schedule (below); its peak
learning rate is picked by one rule for all: the budget's rate x 0.5, 1 and 2, each trained on the
small budget's training subset for 1 epoch and scored on the DEV split (never the reported test
split), the best dev score wins (cond_lm: the lowest perplexity; among equal scores the rate nearest
the budget's, so a sweep with no signal keeps the budget's rate), and that rate trains the reported run. Rows show the picked `lr`; the JSON has every sweep run (`sweeps`).
--no-sweep trains every system at the budget's rate instead. Batching is each system's own: nlpkit
groups batches by length, the examples draw random batches; so next to records/s every row reports
padded token positions per second (kpos/s: every position of every training batch, padding
included), which compares engines rather than padding.

Rows (capability: systems -- data -- score)
  triples   nlpkit head=casrel|gplinker (each `head=` the triples config offers) vs bert4torch CasRel
            -- DuIE (data/real/duie) -- micro P/R/F1 over exact (subject, predicate, object) string
            sets, on test.
  ner       nlpkit head=crf|softmax|global_pointer vs bert4torch BERT+CRF -- People's Daily 1998-01
            char BIO (data/real/peoples_daily/ner) -- seqeval entity-level P/R/F1 (strict, IOB2) on
            the test file's character tags. Paragraphs longer than max_length lose their tail on both
            sides (at 256 tokens, 7% of the test paragraphs: a perfect tagger would score F1 0.959).
  classify  nlpkit vs transformers BertForSequenceClassification + Trainer -- reviews
            (data/real/reviews) -- accuracy and macro-F1 on test.
  cond_lm   nlpkit vs bert4torch conditional LayerNorm LM -- reviews, label = sentiment --
            perplexity on test reviews (true label) and likelihood conditioning accuracy; of the texts each generates
            (top-p 0.95 sampling, GEN per label): conditioning accuracy as judged by a character
            1-3-gram TF-IDF + logistic-regression classifier trained on the TEST reviews (no generator
            saw them; its own accuracy on dev is reported; an empty text counts as wrong), distinct-2
            (characters) and the share of empty texts.
  seq2seq   nlpkit seq2seq (UniLM mask) vs bert4torch UniLM -- paraphrase generation on LCQMC's positive
            pairs (data/real/lcqmc_paraphrase, {"src": s1, "tgt": s2}) -- character ROUGE-L F1 and BLEU-4
            (scoring.py; `nlpkit evaluate`'s ROUGE-L as nlpkit_evaluate_rouge_l) of the test outputs, both
            sides decoding with nlpkit's run's settings (greedy, 32 new tokens); copies_source is the share of
            outputs equal to their source, and the settings hold the score of copying every source. The
            peer's token and segment ids are checked against the nlpkit run's own task encoding (its cut
            rule: target to max_target_length, source to what is left) on the 20 longest training pairs
            and the first 180.
  jose      nlpkit JoSE vs gensim Doc2Vec PV-DBOW (+ the JoSE C program with --jose-bin) -- reviews
            segmented by jieba, labelled by sentiment -- words/s and leave-one-out 3-NN accuracy of the
            document vectors (scripts/bench_jose.py's runners and settings: dim 100, window 5,
            negative 2, min_count 5).
  wordcount `nlpkit wordcount` -j 1 / -j 2 vs a plain jieba.cut loop and jieba.enable_parallel(2) --
            People's Daily text x COPIES in one file -- seconds, MB/s, and exactness (every count
            equal to the loop's); scripts/bench_wordcount.py's runners (fresh process each).
  mlm       (--init pretrained only; no peer: nlpkit against itself) domain-adaptive pretraining (DAPT)
            of each checkpoint with an MLM head (m3e-small has none: skipped) by `nlpkit train task=mlm
            model=CHECKPOINT` for the budget's steps at its profile's rate, on People's Daily paragraphs
            (less those of the NER dev and test files) + DuIE's training texts -- masked-token accuracy
            and perplexity on held-out text (a MLM_SEED-drawn slice of both sources, never trained on)
            of the checkpoint as published (`nlpkit evaluate task=mlm model=CHECKPOINT`) and after DAPT,
            on the same masks (max_length and seed given to both); then ner (People's Daily, crf) and
            triples (DuIE, casrel) fine-tuned from the checkpoint and from the DAPT run with the same
            data, epochs and rate (the checkpoint's profile rate, no sweep), scored as those rows are;
            f1_gain = F1 from DAPT - F1 from the checkpoint. DAPT's rec/s counts packed sequences.
  reading, nl2sql  (no public data offline: smoke rows, no peer) from each starting point, nlpkit's task
            trained on its bundled sample with its profile's recipe for the budget's epochs, then
            `nlpkit evaluate` on the sample's dev file: its metrics and training seconds, showing the path
            works end to end from each checkpoint (m3e-small too, whose missing MLM head reading's
            generator learns). reading's answers_in_passage: the share of its non-empty answers found
            verbatim in a passage of their question (clean text: no [UNK], ##, spaces between characters).

The peers' recipes (read from bert4torch v0.6.0 / transformers; no file of theirs is copied):
  triples   bert4torch examples/relation_extraction/task_relation_extraction_CasRel.py: BERT, sigmoid^2
            subject pointers, one random subject per sentence, conditional LayerNorm on its start+end
            vectors, sigmoid^4 object pointers per predicate, masked BCE, Adam at a constant rate,
            decoding one sentence at a time at 0.6 / 0.5 thresholds (bench_peers/casrel.py).
  ner       bert4torch examples/sequence_labeling/task_sequence_labeling_ner_crf.py: BERT (no segment
            embedding) + Linear + CRF, Adam at a constant rate, Viterbi (bench_peers/ner_crf.py).
  classify  transformers examples/pytorch/text-classification/run_glue.py: map-tokenise with
            truncation, DataCollatorWithPadding, Trainer defaults (AdamW, linear decay, no warmup)
            (bench_peers/hf_classify.py).
  cond_lm   bert4torch examples/others/task_conditional_language_model.py (bert4keras'
            task_conditional_language_model.py): 128-dim label embedding -> conditional_size=128
            LayerNorms, application='lm', text_segmentate into maxlen - 2 pieces, Adam at a constant
            rate, AutoRegressiveDecoder.random_sample (no cache) (bench_peers/cln_lm.py).
  seq2seq   bert4torch examples/seq2seq/task_seq2seq_autotitle.py: with_mlm, application='unilm',
            CausalLMLoss masked by the segment ids (target tokens only), Adam at a constant rate, the
            AutoTitle decoder's beam_search without cache (bench_peers/unilm_seq2seq.py).
  Every peer's BERT is randomly initialised at nlpkit's tiny size for that task (read from `nlpkit
  config task=T`: hidden 128, 2 layers, intermediate 512, heads 4 -- 2 for cond_lm) with nlpkit's
  vocabulary (the vocab.txt of the nlpkit run trained on the same file: Tokenizer.build on the
  training texts, 8000 at most), and a config.json written here. Each side keeps its own optimizer
  recipe: nlpkit's AdamW + warmup + linear decay (+ EMA 0.99 for triples, CRF rate x100 for ner), the
  bert4torch examples' constant-rate Adam, the Trainer's AdamW + linear decay; the peak rate of each
  comes from the same dev sweep.
  With --init pretrained every system (nlpkit and the peers) starts instead from each --checkpoints
  folder (real_models.py's albert-tiny-chinese, m3e-small) with its own vocabulary, at the rate of the
  profile nlpkit picks for it (`nlpkit config task=T model=DIR`: the sweep's centre); bert4torch loads a
  checkpoint only after its weights are checked equal to transformers' load; nlpkit's random tiny model
  at the same budget is the extra row that shows what pretraining buys.

Budgets (settings per capability, all printed in the JSON under "settings"):
  small  a subsample (the first N records of each file; real_data.py's files are in hash order) and
         1 epoch, for a quick look (15-20 minutes on 2 idle cores with --threads 1 before the dev
         sweep, which trains every system three more times at this size; classify alone: 4.6 min):
         triples 2,000 train / 300 test; ner 2,000 / 300 paragraphs; classify 4,000 / 500;
         cond_lm 4,000 train / 300 test, 32 texts per label; jose 5,000 reviews, 5 epochs;
         wordcount x1.
  medium (the default) the README's table: triples 4,000 / 500, 2 epochs; ner 4,000 / 500
         paragraphs, 3 epochs; classify 8,000 / 1,500, 2 epochs; cond_lm 8,000 / 500 test, 2 epochs, 64 texts per label;
         jose all 14,408 reviews, 5 epochs; wordcount x6 (33 MB). Other settings as in full. About
         66 minutes of one core with --threads 1, the dev sweep included (measured 2026-12-07:
         classify,triples 21 min and ner,cond_lm 44 min, side by side at load 4-11; jose,wordcount
         1.6 min).
  full   the issue's setting: triples 11,417 train / 1,000 test, 5 epochs, batch 8, lr 1.5e-3;
         ner 17,484 / 1,000 paragraphs, 3 epochs, batch 16, lr 2e-3, max_length 256; classify
         14,408 / 1,500, 3 epochs, batch 16, lr 1e-3; cond_lm 14,408 / 1,500, 3 epochs, batch 32,
         lr 5e-3, 200 texts per label; jose 14,408 reviews, 10 epochs; wordcount x6 -- one torch
         thread (--threads 1). Hours on a 2-core CPU: run it on a quiet machine.
  seq2seq (every budget: batch 32, lr 2e-3, max_length 96, max_target_length 32): small 2,000 train /
         200 test pairs, 1 epoch; medium 20,000 / 500, 2 epochs; full all 136,344 / 1,000, 3 epochs.
  mlm    (every budget: DAPT batch 16 x max_length 128 on the 17,484 People's Daily + 11,417 DuIE lines,
         1.6 M + 0.6 M characters, less the held-out 300 + 300; downstream at the ner / triples budgets'
         batch and max_length) small 300 DAPT steps, then ner and triples 1,000 train / 300 test, 1 epoch;
         medium 1,500 steps, 2,000 / 500, 2 epochs; full 5,000 steps, 4,000 / 1,000, 3 epochs.
         albert-tiny's DAPT ran at 10 sequences/s on one thread at load 6 (small: about 8 minutes of
         DAPT). --limit N also caps the steps at N.
  reading, nl2sql  the whole bundled sample (reading 1,500 train / 120 dev questions, nl2sql 396 / 140),
         small 1 epoch, medium and full 2.
  The rate of each budget is the centre of the sweep (x 0.5, 1, 2); the sweep itself always uses the
  small budget's training subset, 1 epoch, and as many DEV records as the small budget scores.
  --limit N caps every file at N records (and wordcount at N lines); --epochs N overrides the
  epochs: for developing one capability at a time (--only ner --limit 200 --epochs 1).

Speed: records/s = training records x epochs / training seconds, training only; kpos/s = padded token
positions of the training batches (nlpkit: metrics.json's train_positions; the peers: counted around
their collate function) / training seconds / 1000 (nlpkit:
metrics.json's train_seconds, which also holds its per-epoch save; the peers: their fit / train
call; neither scores dev during training, both keep the last epoch). The peers' training CPU seconds
are given too (steadier when other work shares the machine). Vocabulary building, encoding and
process start are in wall_s, not in records/s. nlpkit_evaluate_* is what `nlpkit evaluate` itself
reports on the same file: a cross-check of the benchmark's scorer.

Needs the [bench] extra: bert4torch 0.6.0 (whose torch4keras 0.3.2 imports requests and PIL without
declaring them), gensim, scikit-learn, psutil.
"""
import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
MODELS = Path(os.environ.get("NLPKIT_CACHE", Path.home() / ".cache" / "nlpkit")) / "models"  # real_models.py's
sys.path.insert(0, str(SCRIPTS))

from bench_peers import nlpkit_side, scoring  # noqa: E402
from bench_peers.common import env_threads, nlpkit_vocab, read_bio, read_jsonl, read_tsv  # noqa: E402

CAPABILITIES = ("triples", "ner", "classify", "classify_hotel", "classify_lcqmc", "cond_lm", "seq2seq", "jose",
                "wordcount", "mlm", "reading", "nl2sql")
TASK_OF = {"classify_hotel": "classify", "classify_lcqmc": "classify"}  # capability -> nlpkit task, where they differ
CLASSIFY_DATA = {"classify": "reviews", "classify_hotel": "chnsenticorp", "classify_lcqmc": "lcqmc"}
BUDGETS = {
    "small": {
        "triples": {"train": 2000, "test": 300, "epochs": 1, "batch_size": 8, "lr": 1.5e-3, "max_length": 128},
        "ner": {"train": 2000, "test": 300, "epochs": 1, "batch_size": 16, "lr": 2e-3, "max_length": 256},
        "classify": {"train": 4000, "test": 500, "epochs": 1, "batch_size": 16, "lr": 1e-3, "max_length": 128},
        "classify_hotel": {"train": 2000, "test": 500, "epochs": 1, "batch_size": 32, "lr": 1e-3, "max_length": 128},
        "classify_lcqmc": {"train": 4000, "test": 500, "epochs": 1, "batch_size": 32, "lr": 1e-3, "max_length": 64},
        "cond_lm": {"train": 4000, "test": 300, "epochs": 1, "batch_size": 32, "lr": 5e-3, "max_length": 128,
                    "generate": 32},
        "seq2seq": {"train": 2000, "test": 200, "epochs": 1, "batch_size": 32, "lr": 2e-3, "max_length": 96,
                    "max_target_length": 32},
        "jose": {"docs": 5000, "epochs": 5},
        "wordcount": {"copies": 1},
        "mlm": {"train": None, "test": 300, "steps": 300, "batch_size": 16, "max_length": 128, "epochs": 1,
                "ner_train": 1000, "ner_test": 300, "triples_train": 1000, "triples_test": 300},
        "reading": {"train": None, "test": None, "epochs": 1},
        "nl2sql": {"train": None, "test": None, "epochs": 1},
    },
    "medium": {
        "triples": {"train": 4000, "test": 500, "epochs": 2, "batch_size": 8, "lr": 1.5e-3, "max_length": 128},
        "ner": {"train": 4000, "test": 500, "epochs": 3, "batch_size": 16, "lr": 2e-3, "max_length": 256},
        "classify": {"train": 8000, "test": 1500, "epochs": 2, "batch_size": 16, "lr": 1e-3, "max_length": 128},
        "classify_hotel": {"train": None, "test": None, "epochs": 3, "batch_size": 32, "lr": 1e-3, "max_length": 128},
        "classify_lcqmc": {"train": 20000, "test": 2000, "epochs": 2, "batch_size": 32, "lr": 1e-3, "max_length": 64},
        "cond_lm": {"train": 8000, "test": 500, "epochs": 2, "batch_size": 32, "lr": 5e-3, "max_length": 128,
                    "generate": 64},
        "seq2seq": {"train": 20000, "test": 500, "epochs": 2, "batch_size": 32, "lr": 2e-3, "max_length": 96,
                    "max_target_length": 32},
        "jose": {"docs": None, "epochs": 5},
        "wordcount": {"copies": 6},
        "mlm": {"train": None, "test": 300, "steps": 1500, "batch_size": 16, "max_length": 128, "epochs": 2,
                "ner_train": 2000, "ner_test": 500, "triples_train": 2000, "triples_test": 500},
        "reading": {"train": None, "test": None, "epochs": 2},
        "nl2sql": {"train": None, "test": None, "epochs": 2},
    },
    "full": {
        "triples": {"train": None, "test": None, "epochs": 5, "batch_size": 8, "lr": 1.5e-3, "max_length": 128},
        "ner": {"train": None, "test": None, "epochs": 3, "batch_size": 16, "lr": 2e-3, "max_length": 256},
        "classify": {"train": None, "test": None, "epochs": 3, "batch_size": 16, "lr": 1e-3, "max_length": 128},
        "classify_hotel": {"train": None, "test": None, "epochs": 3, "batch_size": 32, "lr": 1e-3, "max_length": 128},
        "classify_lcqmc": {"train": None, "test": None, "epochs": 3, "batch_size": 32, "lr": 1e-3, "max_length": 64},
        "cond_lm": {"train": None, "test": None, "epochs": 3, "batch_size": 32, "lr": 5e-3, "max_length": 128,
                    "generate": 200},
        "seq2seq": {"train": None, "test": 1000, "epochs": 3, "batch_size": 32, "lr": 2e-3, "max_length": 96,
                    "max_target_length": 32},
        "jose": {"docs": None, "epochs": 10},
        "wordcount": {"copies": 6},
        "mlm": {"train": None, "test": 300, "steps": 5000, "batch_size": 16, "max_length": 128, "epochs": 3,
                "ner_train": 4000, "ner_test": 1000, "triples_train": 4000, "triples_test": 1000},
        "reading": {"train": None, "test": None, "epochs": 2},
        "nl2sql": {"train": None, "test": None, "epochs": 2},
    },
}
NER_HEADS = ("crf", "softmax", "global_pointer")
SWEEP_FACTORS = (0.5, 1.0, 2.0)  # x the budget's rate: every trained system gets the same three rates
SELECT = {"triples": ("f1", max), "ner": ("f1", max), "classify": ("accuracy", max), "classify_hotel": ("accuracy", max),
          "classify_lcqmc": ("accuracy", max), "cond_lm": ("perplexity", min), "seq2seq": ("rouge_l", max)}
CHECK_TEXTS = 200  # a peer's token ids must equal nlpkit's on this many training texts before it trains
MLM_SEED = 42  # mlm: draws the held-out text and its masks, the same before and after DAPT
LIBRARIES = ("torch", "transformers", "tokenizers", "accelerate", "datasets", "bert4torch", "torch4keras", "gensim",
             "jieba", "numba", "scikit-learn", "numpy")
SYSTEM_LIBRARIES = (  # (part of a system's name, the libraries its row comes from)
    ("nlpkit", ("torch", "transformers", "tokenizers", "accelerate", "datasets", "jieba", "numba")),
    ("bert4torch", ("torch", "bert4torch", "torch4keras")),
    ("Trainer", ("torch", "transformers", "tokenizers", "accelerate", "datasets")),
    ("gensim", ("gensim", "numpy")), ("jieba", ("jieba",)))


def sweep_rates(rate):
    return [float(f"{rate * f:.6g}") for f in SWEEP_FACTORS]


def pick_rate(scores, best, centre):
    """The rate with the best dev score; among equal scores the one nearest the budget's rate, so a sweep
    without signal (every rate at F1 0 after one short epoch) keeps the budget's rate instead of an end."""
    top = best(scores.values())
    return min((r for r, v in scores.items() if v == top), key=lambda r: (abs(math.log(r / centre)), r))


def versions(names=LIBRARIES):
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def libraries_of(system):
    names = sorted({lib for part, libs in SYSTEM_LIBRARIES if part in system for lib in libs})
    return versions(names)


def raw_labels(labels, run_dir):
    """A run's labels as the data writes them: display names (the `label_names` key, e.g. cond_lm's
    {"0": "负面", "1": "正面"}) mapped back to the raw values the peers read."""
    import yaml

    config = yaml.safe_load((Path(run_dir) / "nlpkit.yaml").read_text(encoding="utf-8")) or {}
    names = {str(v): str(k) for k, v in (config.get("label_names") or {}).items()}
    return [names.get(str(label), str(label)) for label in labels]


def git_commit():
    """nlpkit's commit, "+dirty" when tracked files differ from it; None outside a git checkout."""
    def git(*cmd):
        return subprocess.run(["git", *cmd], cwd=SCRIPTS, capture_output=True, text=True)
    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return None
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


def flat_texts(texts):
    """Texts, with a pair's two texts one after the other (what a vocabulary is built from)."""
    return [x for t in texts for x in (t if isinstance(t, (tuple, list)) else (t,))]


def say(message):
    print(f"[bench_real] {message}", file=sys.stderr, flush=True)


# ---- data subsets ---------------------------------------------------------------------------------
def first_lines(src, n, dst):
    """The first n non-empty lines of src in dst (src itself when n is None)."""
    if n is None:
        return str(src)
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as out:
        kept = 0
        for line in f:
            if line.strip():
                out.write(line if line.endswith("\n") else line + "\n")
                kept += 1
                if kept >= n:
                    break
    return str(dst)


def first_paragraphs(src, n, dst):
    """The first n blank-line-separated paragraphs of a char-BIO file."""
    if n is None:
        return str(src)
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as out:
        kept, inside = 0, False
        for line in f:
            if line.strip():
                out.write(line)
                inside = True
            elif inside:
                kept += 1
                inside = False
                if kept >= n:
                    break
                out.write("\n")
        out.write("\n")
    return str(dst)


def sample_records(path):
    """The records of a JSON list or JSON lines file (nlpkit's own reader of both)."""
    from nlpkit.data import read_json_records

    return [record for _, record in read_json_records(path)]


def first_records(src, n, folder):
    """The first n records of a bundled sample file (a JSON list or JSON lines) as JSON lines under the same
    name in folder, with the sample's files named after it beside it (nl2sql's train.tables.json); src
    itself when n is None."""
    if n is None:
        return str(src)
    src, folder = Path(src), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / src.name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sample_records(src)[:n]),
                                   encoding="utf-8")
    for other in src.parent.glob(src.stem + ".*"):
        if other != src:
            shutil.copy(other, folder / other.name)
    return str(folder / src.name)


# ---- the data and scores of ner and triples (their capabilities and mlm's downstream rows) ---------
def triples_data(split):
    """(training texts, scored texts, gold (subject, predicate, object)s per scored text) of a DuIE split;
    sets split.n_train."""
    train_rows, rows = read_jsonl(split.train), read_jsonl(split.scored)
    split.n_train = len(train_rows)
    gold = [[(t["subject"], t["predicate"], t["object"]) for t in r["spo_list"]] for r in rows]
    return [r["text"] for r in train_rows], [r["text"] for r in rows], gold


def ner_data(split):
    """(training texts, scored texts, gold (start, end, type) spans per scored text) of a char-BIO split;
    sets split.n_train."""
    train_rows, rows = read_bio(split.train), read_bio(split.scored)
    split.n_train = len(train_rows)
    return [t for t, _ in train_rows], [t for t, _ in rows], [g for _, g in rows]


def has_mlm_head(model):
    """Whether a checkpoint folder's config.json names an architecture with an MLM head (m3e-small's
    BertModel has none, an ELECTRA discriminator neither: nlpkit would give it a random one)."""
    archs = json.loads((Path(model) / "config.json").read_text(encoding="utf-8")).get("architectures") or []
    return any(a.endswith(("ForMaskedLM", "ForPreTraining")) and not a.startswith("Electra") for a in archs)


# ---- the run ------------------------------------------------------------------------------------
class Split:
    """One training file and the file it is scored on: the sweep's (a train subset, scored on dev, 1 epoch)
    or the reported run's (the budget's train subset, scored on test)."""

    def __init__(self, name, train, scored, epochs, n_train):
        self.name, self.train, self.scored, self.epochs, self.n_train = name, train, scored, epochs, n_train


class Bench:
    def __init__(self, args):
        self.args = args
        self.data = Path(args.data)
        self.threads = args.threads
        self.work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_real_"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.log = self.work / "bench_real.log"
        self.results, self.settings, self.notes, self.sweeps = {}, {}, [], {}
        self.split_runs = {}  # (capability, model, split name) -> an nlpkit run trained on that split's file

    def inits(self):
        """(label, model) of every starting point: --init tiny: the random tiny model; --init pretrained:
        each --checkpoints folder, then the tiny model from scratch at the same budget (what pretraining buys)."""
        if self.args.init == "tiny":
            return [("tiny", "tiny")]
        return [(name, str(MODELS / name)) for name in self.args.checkpoints.split(",")] + [("tiny", "tiny")]

    def named(self, system, label):
        """A row's system name; with --init pretrained it names its starting point too."""
        return system if self.args.init == "tiny" else f"{system} [{label}]"

    def centre(self, cap, s, model):
        """The sweep's centre rate: the budget's for the tiny model, for a checkpoint the rate of the profile
        nlpkit gives that model (`nlpkit config task=T model=DIR`), what a user gets without tuning."""
        if model == "tiny":
            return s["lr"]
        return float(nlpkit_side.config_keys(TASK_OF.get(cap, cap), model)["trainer.lr"][0])

    def setting(self, cap, budget=None):
        s = dict(BUDGETS[budget or self.args.budget][cap])
        lim = self.args.limit
        if lim:
            for key in ("train", "test", "dev", "docs"):
                if key in s:
                    s[key] = lim if s[key] is None else min(s[key], lim)
            if "generate" in s:
                s["generate"] = min(s["generate"], 8)
        if self.args.epochs and "epochs" in s and budget is None:
            s["epochs"] = self.args.epochs
        if budget is None:
            self.settings[cap] = s
        return s

    def splits(self, cap, subset, folder, names):
        """The sweep split (small budget's sizes of train and dev, 1 epoch) and the reported split.
        names: {"train", "dev", "test"} files in data/real/...; subset(src, n, dst) takes the first n records."""
        s, small = self.setting(cap), self.setting(cap, "small")
        ext = Path(names["train"]).suffix
        final = Split("final", subset(names["train"], s["train"], folder / f"train_final{ext}"),
                      subset(names["test"], s["test"], folder / f"test_final{ext}"), s["epochs"], 0)
        sweep = Split("sweep", subset(names["train"], small["train"], folder / f"train_sweep{ext}"),
                      subset(names["dev"], small["test"], folder / f"dev_sweep{ext}"), 1, 0)
        if self.args.sweep:
            s["sweep"] = {"train": small["train"], "dev": small["test"], "epochs": 1, "rates": sweep_rates(s["lr"]),
                          "picked_by": SELECT[cap][0]}
        return s, sweep, final

    def folder(self, name):
        p = self.work / name
        p.mkdir(parents=True, exist_ok=True)
        return p

    def child(self, target, spec, name):
        """Run bench_peers.<module>:<function>(spec) in a fresh process with the benchmark's threads."""
        spec = {"threads": self.threads, "seed": 42, **spec}
        folder = self.folder("specs")
        spec_path, result_path = folder / f"{name}.json", folder / f"{name}.result.json"
        spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--_child", target, str(spec_path), str(result_path)]
        t0 = time.perf_counter()
        with open(self.log, "a", encoding="utf-8") as log:
            log.write(f"$ {' '.join(cmd)}\n")
            log.flush()
            proc = subprocess.run(cmd, stdout=log, stderr=log, env=env_threads(self.threads))
        if proc.returncode != 0:
            tail = self.log.read_text(encoding="utf-8").splitlines()[-20:]
            last = next((line.strip() for line in reversed(tail) if line.strip()), "")
            raise RuntimeError(f"{target} failed (exit {proc.returncode}): {last} (log {self.log}):\n  "
                               + "\n  ".join(tail))
        out = json.loads(result_path.read_text(encoding="utf-8"))
        if "input_mismatch" in out:
            raise RuntimeError(f"inputs differ from nlpkit's, not trained: {out['input_mismatch']}")
        out["wall_s"] = time.perf_counter() - t0
        return out

    def add(self, cap, system, row):
        self.results.setdefault(cap, {})[system] = row

    def skipped(self, system):
        return next((part for part in self.args.skip or () if part in system), None)

    def attempt(self, cap, system, fn, store=True):
        """Run one system; a failure becomes an error row, the benchmark goes on. Every row carries the
        machine's load average at its start and end and the versions of the libraries that made it."""
        say(f"{cap}: {system} ...")
        t0, load0 = time.perf_counter(), os.getloadavg()[0]
        try:
            row = fn()
        except Exception as e:  # noqa: BLE001 -- one system's failure must not stop the others
            msg = str(e) if isinstance(e, RuntimeError) else f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
            say(f"{cap}: {system} FAILED: {msg}")
            row = {"error": msg.splitlines()[0][:300]}
        if row is not None:
            row.update(load_avg_start=round(load0, 2), load_avg_end=round(os.getloadavg()[0], 2),
                       libraries=libraries_of(system))
            if store:
                self.add(cap, system, row)
            shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()
                     if not isinstance(v, (dict, list))}
            say(f"{cap}: {system} done in {time.perf_counter() - t0:.0f}s: {json.dumps(shown, ensure_ascii=False)}")
        return row

    def tuned(self, cap, system, fn, s, sweep, final, centre=None):
        """The same learning-rate rule for every system: with the sweep (default), fn(sweep, rate) for each
        of the centre rate (the budget's, or for a checkpoint its profile's) x SWEEP_FACTORS, the best dev
        score picks the rate (pick_rate), and fn(final, rate) is the reported row; with --no-sweep, the centre."""
        skip = self.skipped(system)
        if skip:
            self.add(cap, system, {"skipped": f"--skip {skip}"})
            return
        centre = centre or s["lr"]
        rate, scores = centre, None
        if self.args.sweep:
            metric, best = SELECT[cap]
            rows = {r: self.attempt(cap, f"{system} [sweep lr={r:g}]", lambda r=r: fn(sweep, r), store=False)
                    for r in sweep_rates(centre)}
            self.sweeps.setdefault(cap, {})[system] = rows
            scores = {r: row.get(metric) for r, row in rows.items() if row and row.get(metric) is not None}
            if not scores:
                self.add(cap, system, {"error": "every rate of the sweep failed"})
                return
            rate = pick_rate(scores, best, centre)
        self.attempt(cap, system, lambda: {"lr": rate, "sweep_dev": scores, **fn(final, rate)})

    # ---- shared steps ------------------------------------------------------------------------
    def nlpkit_run(self, cap, split, s, lr, name, model="tiny", **keys):
        """Train nlpkit's task of `cap` from `model` on the split at `lr` with the budget's batch size and
        max_length (+ keys)."""
        settings = {"trainer.epochs": split.epochs, "trainer.batch_size": s["batch_size"], "trainer.lr": lr,
                    "max_length": s["max_length"], **keys}
        run_dir = self.folder("runs") / f"{name}_{Path(model).name}_{split.name}_lr{lr:g}"
        trained = nlpkit_side.train(TASK_OF.get(cap, cap), split.train, run_dir, settings, self.threads, self.log,
                                    model)
        self.split_runs.setdefault((cap, model, split.name), run_dir)
        return run_dir, trained

    def nlpkit_predicted(self, cap, split, s, lr, texts, name, model="tiny", **keys):
        """Train (nlpkit_run), then predict `texts` through the pipeline; on the reported split also what
        `nlpkit evaluate` says (a cross-check of the scorer). Returns (predictions, timing row, evaluate)."""
        run_dir, trained = self.nlpkit_run(cap, split, s, lr, name, model, **keys)
        pred = self.child("nlpkit_side:predict", {
            "task": TASK_OF.get(cap, cap), "run": str(run_dir), "inputs": texts, "batch_size": 64,
            "evaluate": split.scored if split.name == "final" else None}, f"predict_{name}_{split.name}")
        timing = self.timing(split.n_train, split.epochs, trained, pred["predict_s"])
        return pred["predictions"], timing, pred.get("evaluate") or {}

    def triples_scored(self, split, s, lr, data, name, model, **keys):
        """One nlpkit triples row: trained from `model` (nlpkit_predicted), its triples scored by triple_prf.
        data: triples_data(split)."""
        _, texts, gold = data
        pred, timing, own = self.nlpkit_predicted("triples", split, s, lr, texts, name, model, **keys)
        preds = [[(t["subject"], t["predicate"], t["object"]) for t in p] for p in pred]
        return {**timing, **scoring.triple_prf(gold, preds), **({"nlpkit_evaluate_f1": own["f1"]} if own else {})}

    def ner_scored(self, split, s, lr, data, name, model, **keys):
        """One nlpkit ner row: trained from `model` (nlpkit_predicted), its entities scored by seqeval on
        character tags. data: ner_data(split)."""
        _, texts, gold = data
        pred, timing, own = self.nlpkit_predicted("ner", split, s, lr, texts, name, model, **keys)
        preds = [[(e["start"], e["end"], e["type"]) for e in p] for p in pred]
        return {**timing, **scoring.ner_seqeval(texts, gold, preds),
                **({"nlpkit_evaluate_f1": own["f1"]} if own else {})}

    def reference(self, cap, split, texts, labels, labels_key, max_length, model="tiny"):
        """What a peer must see: the vocabulary of nlpkit's run from `model` on this split's training file,
        nlpkit's token ids (and segment ids) of its first CHECK_TEXTS training texts (a pair: (text_a,
        text_b)) and nlpkit's label set (the run's task_state.json). Without a finished nlpkit run, the same
        vocabulary (Tokenizer.build, or the checkpoint's) and the data's labels."""
        from nlpkit.tokenizer import Tokenizer

        run = self.split_runs.get((cap, model, split.name))
        if run is not None and (Path(run) / "vocab.txt").exists():
            folder, source = Path(run), f"nlpkit run {Path(run).name}"
            state = json.loads((folder / "task_state.json").read_text(encoding="utf-8"))
            labels = raw_labels(state[labels_key], folder)
        elif model != "tiny":
            folder, source = Path(model), f"the checkpoint {Path(model).name} (no nlpkit run finished)"
        else:
            folder = Path(nlpkit_vocab(flat_texts(texts), self.folder(f"vocab_{cap}_{split.name}"))).parent
            source = "Tokenizer.build (no nlpkit run finished)"
        tok = Tokenizer.from_dir(folder)
        check = texts[:CHECK_TEXTS]
        encoded = [tok.encode(*(t if isinstance(t, (tuple, list)) else (t,)), maxlen=max_length) for t in check]
        return {"vocab": str(folder / "vocab.txt"), **({"init": model} if model != "tiny" else {}),
                "check": {"texts": check, "ids": [e.input_ids for e in encoded],
                          "types": [e.token_type_ids for e in encoded], "labels": sorted(map(str, labels)),
                          "source": source}}

    @staticmethod
    def timing(n_records, epochs, run, predict_s=None):
        """A row's speed and times: records/s and padded token positions/s over the training seconds only,
        then the run's training CPU, wall and prediction seconds where it reports them."""
        secs, positions = run["train_s"], run.get("train_positions")
        row = {"records_per_s": n_records * epochs / secs if secs else None,
               "positions_per_s": positions / secs if secs and positions else None,
               "train_positions": positions, "train_s": secs}
        row.update({k: run[k] for k in ("train_cpu_s", "wall_s", "predict_s") if k in run})
        return {**row, "predict_s": predict_s} if predict_s is not None else row

    # ---- triples ------------------------------------------------------------------------------
    def triples(self):
        d, w = self.data / "duie", self.folder("triples")
        s, sweep, final = self.splits("triples", first_lines, w, {
            "train": d / "train.jsonl", "dev": d / "dev.jsonl", "test": d / "test.jsonl"})
        schema = str(d / "schema.jsonl")
        tiny = s["tiny"] = nlpkit_side.tiny_size("triples")
        heads = nlpkit_side.config_keys("triples")["head"][1]  # every head the triples config offers

        split_data = {sp.name: triples_data(sp) for sp in (sweep, final)}
        s.update(n_train=final.n_train, n_test=len(split_data["final"][2]), n_sweep_train=sweep.n_train)

        for label, model in self.inits():
            centre = self.centre("triples", s, model)
            for head in heads:
                def one(sp, lr, head=head, model=model):
                    return self.triples_scored(sp, s, lr, split_data[sp.name], f"triples_{head}", model,
                                               schema=schema, head=head)
                self.tuned("triples", self.named(f"nlpkit head={head}", label), one, s, sweep, final, centre)
            if model == "tiny" and self.args.init != "tiny":
                continue  # from scratch, the peer's row is --init tiny's

            def peer(sp, lr, model=model):
                train_texts, _, gold = split_data[sp.name]
                ref = self.reference("triples", sp, train_texts, {r["predicate"] for r in read_jsonl(schema)},
                                     "predicates", s["max_length"], model)
                out = self.child("casrel:run", {**ref, "train": sp.train, "test": sp.scored, "schema": schema,
                                                "tiny": tiny, "epochs": sp.epochs, "batch_size": s["batch_size"],
                                                "lr": lr, "max_length": s["max_length"], "workdir": str(w)},
                                 f"casrel_{Path(model).name}_{sp.name}")
                preds = [[tuple(t) for t in p] for p in out["predictions"]]
                return {**self.timing(sp.n_train, sp.epochs, out), **scoring.triple_prf(gold, preds),
                        "n_train_used": out["n_train_used"], "inputs_checked": out["inputs_checked"],
                        "n_params": out["n_params"]}
            self.tuned("triples", self.named("bert4torch CasRel", label), peer, s, sweep, final, centre)

    # ---- ner ----------------------------------------------------------------------------------
    def ner(self):
        d, w = self.data / "peoples_daily" / "ner", self.folder("ner")
        s, sweep, final = self.splits("ner", first_paragraphs, w, {
            "train": d / "train.txt", "dev": d / "dev.txt", "test": d / "test.txt"})
        tiny = s["tiny"] = nlpkit_side.tiny_size("ner")
        keys = nlpkit_side.config_keys("ner")
        heads = keys["head"][1] if "head" in keys and keys["head"][1] else list(NER_HEADS)

        split_data = {sp.name: ner_data(sp) for sp in (sweep, final)}
        s.update(n_train=final.n_train, n_test=len(split_data["final"][1]), n_sweep_train=sweep.n_train)

        for label, model in self.inits():
            centre = self.centre("ner", s, model)
            for head in heads:
                def one(sp, lr, head=head, model=model):
                    return self.ner_scored(sp, s, lr, split_data[sp.name], f"ner_{head}", model, head=head)
                self.tuned("ner", self.named(f"nlpkit head={head}", label), one, s, sweep, final, centre)
            if model == "tiny" and self.args.init != "tiny":
                continue  # from scratch, the peers' rows are --init tiny's
            for target, system in self.ner_peers(model):
                def peer(sp, lr, target=target, model=model):
                    train_texts, texts, gold = split_data[sp.name]
                    types = {t for _, spans in read_bio(sp.train) for *_, t in spans}
                    ref = self.reference("ner", sp, train_texts, types, "types", s["max_length"], model)
                    out = self.child(target, {**ref, "train": sp.train, "test": sp.scored, "tiny": tiny,
                                              "epochs": sp.epochs, "batch_size": s["batch_size"], "lr": lr,
                                              "max_length": s["max_length"], "workdir": str(w)},
                                     f"{target.split(':')[0]}_{Path(model).name}_{sp.name}")
                    preds = [[tuple(e) for e in p] for p in out["predictions"]]
                    return {**self.timing(sp.n_train, sp.epochs, out), **scoring.ner_seqeval(texts, gold, preds),
                            "inputs_checked": out["inputs_checked"], "n_params": out["n_params"]}
                self.tuned("ner", self.named(system, label), peer, s, sweep, final, centre)

    def ner_peers(self, model):
        """(runner, system) of the ner peers: bert4torch's BERT+CRF example; from a checkpoint also the
        transformers token-classification example (run_ner.py) on it."""
        peers = [("ner_crf:run", "bert4torch BERT+CRF")]
        return peers if model == "tiny" else [("hf_ner:run", "transformers Trainer")] + peers

    # ---- classify -----------------------------------------------------------------------------
    def classify(self, cap="classify"):
        """Texts (reviews, ChnSentiCorp hotel) or pairs (LCQMC): nlpkit next to the Trainer, per starting point."""
        d, w = self.data / CLASSIFY_DATA[cap], self.folder(cap)
        s, sweep, final = self.splits(cap, first_lines, w, {
            "train": d / "train.tsv", "dev": d / "dev.tsv", "test": d / "test.tsv"})
        tiny = s["tiny"] = nlpkit_side.tiny_size("classify")

        def data(split):
            train_rows, rows = read_tsv(split.train), read_tsv(split.scored)
            split.n_train = len(train_rows)
            return train_rows, [t for t, _ in rows], [y for _, y in rows]
        split_data = {sp.name: data(sp) for sp in (sweep, final)}
        s.update(n_train=final.n_train, n_test=len(split_data["final"][1]), n_sweep_train=sweep.n_train)

        def inputs(texts):  # what the pipeline takes: a text, or a pair as a record
            return [{"text_a": t[0], "text_b": t[1]} if isinstance(t, (tuple, list)) else t for t in texts]

        for label, model in self.inits():
            def ours(sp, lr, model=model):
                _, texts, gold = split_data[sp.name]
                pred, timing, own = self.nlpkit_predicted(cap, sp, s, lr, inputs(texts), cap, model)
                return {**timing, **scoring.accuracy_macro_f1(gold, [p["label"] for p in pred]),
                        **({"nlpkit_evaluate_accuracy": own["accuracy"]} if own else {})}
            centre = self.centre(cap, s, model)
            self.tuned(cap, self.named("nlpkit", label), ours, s, sweep, final, centre)

            def peer(sp, lr, model=model):
                train_rows, _, gold = split_data[sp.name]
                ref = self.reference(cap, sp, [t for t, _ in train_rows], {y for _, y in train_rows}, "labels",
                                     s["max_length"], model)
                out = self.child("hf_classify:run", {**ref, "train": sp.train, "test": sp.scored, "tiny": tiny,
                                                     "epochs": sp.epochs, "batch_size": s["batch_size"], "lr": lr,
                                                     "max_length": s["max_length"], "workdir": str(w)},
                                 f"hf_classify_{cap}_{label}_{sp.name}")
                return {**self.timing(sp.n_train, sp.epochs, out),
                        **scoring.accuracy_macro_f1(gold, out["predictions"]),
                        "inputs_checked": out["inputs_checked"], "n_params": out["n_params"]}
            if model != "tiny" or self.args.init == "tiny":  # from scratch, the peer's row is --init tiny's
                self.tuned(cap, self.named("transformers Trainer", label), peer, s, sweep, final, centre)

    def classify_hotel(self):
        self.classify("classify_hotel")

    def classify_lcqmc(self):
        self.classify("classify_lcqmc")

    # ---- cond_lm ------------------------------------------------------------------------------
    def cond_lm(self):
        d, w = self.data / "reviews", self.folder("cond_lm")
        s, sweep, final = self.splits("cond_lm", first_lines, w, {
            "train": d / "train.tsv", "dev": d / "dev.tsv", "test": d / "test.tsv"})
        train_rows = {sp.name: read_tsv(sp.train) for sp in (sweep, final)}
        for sp in (sweep, final):
            sp.n_train = len(train_rows[sp.name])
        judge_rows = read_tsv(d / "test.tsv")  # held out from every generator
        labels = sorted({y for _, y in train_rows["final"]})
        s.update(n_train=final.n_train, n_test=len(read_tsv(final.scored)), judge_train=len(judge_rows),
                 n_sweep_train=sweep.n_train)
        tiny = s["tiny"] = nlpkit_side.tiny_size("cond_lm")
        say("cond_lm: training the judge (char 1-3-gram TF-IDF + logistic regression) on the test reviews")
        judge = scoring.Judge([t for t, _ in judge_rows], [y for _, y in judge_rows])
        dev_rows = read_tsv(d / "dev.tsv")
        s["judge_accuracy_on_dev"] = judge.accuracy([t for t, _ in dev_rows], [y for _, y in dev_rows])

        def judged(texts):
            if not any(texts.values()):  # the sweep scores perplexity only
                return {}
            texts = {y: [clean_generated(t) for t in ts] for y, ts in texts.items()}
            flat = [(t, y) for y, ts in texts.items() for t in ts]
            per = {y: judge.accuracy(ts, [y] * len(ts)) for y, ts in texts.items()}
            return {"gen_cond_accuracy": judge.accuracy([t for t, _ in flat], [y for _, y in flat]),
                    "gen_cond_accuracy_per_label": per, "distinct_2": scoring.distinct_n([t for t, _ in flat], 2),
                    "gen_mean_chars": sum(len(t) for t, _ in flat) / max(len(flat), 1),
                    "gen_empty": sum(not t for t, _ in flat) / max(len(flat), 1),
                    "gen_examples": {y: ts[:2] for y, ts in texts.items()}}

        def generated(sp):
            return s["generate"] if sp is final else 0

        for label, model in self.inits():
            def ours(sp, lr, label=label, model=model):
                run_dir, tr = self.nlpkit_run("cond_lm", sp, s, lr, "cond_lm", model)
                gen = self.child("nlpkit_side:generate", {"run": str(run_dir), "labels": labels, "n": generated(sp),
                                                          "evaluate": sp.scored}, f"generate_cond_lm_{label}_{sp.name}")
                own = gen["evaluate"]
                n_gen = sum(len(v) for v in gen["texts"].values())
                return {**self.timing(sp.n_train, sp.epochs, tr), "perplexity": own.get("perplexity"),
                        "cond_accuracy_likelihood": own.get("cond_accuracy"),
                        "gen_texts_per_s": n_gen / gen["gen_s"] if n_gen else None, **judged(gen["texts"])}
            centre = self.centre("cond_lm", s, model)
            self.tuned("cond_lm", self.named("nlpkit", label), ours, s, sweep, final, centre)
            if model == "tiny" and self.args.init != "tiny":
                continue  # from scratch, the peer's row is --init tiny's

            def peer(sp, lr, label=label, model=model):
                rows = train_rows[sp.name]
                ref = self.reference("cond_lm", sp, [t for t, _ in rows], {y for _, y in rows}, "labels",
                                     s["max_length"], model)
                out = self.child("cln_lm:run", {**ref, "train": sp.train, "dev": sp.scored, "tiny": tiny,
                                                "epochs": sp.epochs, "batch_size": s["batch_size"], "lr": lr,
                                                "max_length": s["max_length"], "n": generated(sp), "workdir": str(w)},
                                 f"cln_lm_{label}_{sp.name}")
                n_gen = sum(len(v) for v in out["texts"].values())
                return {**self.timing(sp.n_train, sp.epochs, out), "perplexity": out["dev_perplexity"],
                        "cond_accuracy_likelihood": out["dev_cond_accuracy_likelihood"],
                        "gen_texts_per_s": n_gen / out["gen_s"] if n_gen else None, **judged(out["texts"]),
                        "cond_changes_logits": out["cond_changes_logits"], "n_train_pieces": out["n_train_used"],
                        "inputs_checked": out["inputs_checked"], "n_params": out["n_params"],
                        **({"init_new_weights": out["init_load_check"]["new"],
                            "cond_init_absmax": out["cond_init_absmax"]} if out.get("init_load_check") else {})}
            self.tuned("cond_lm", self.named("bert4torch CLN LM", label), peer, s, sweep, final, centre)

    # ---- seq2seq ------------------------------------------------------------------------------
    def seq2seq(self):
        d, w = self.data / "lcqmc_paraphrase", self.folder("seq2seq")
        s, sweep, final = self.splits("seq2seq", first_lines, w, {
            "train": d / "train.jsonl", "dev": d / "dev.jsonl", "test": d / "test.jsonl"})
        tiny = s["tiny"] = nlpkit_side.tiny_size("seq2seq")

        def data(split):
            train_rows, rows = read_jsonl(split.train), read_jsonl(split.scored)
            split.n_train = len(train_rows)
            return [(r["src"], r["tgt"]) for r in train_rows], [r["src"] for r in rows], [r["tgt"] for r in rows]
        split_data = {sp.name: data(sp) for sp in (sweep, final)}
        _, sources, targets = split_data["final"]
        copied = scoring.generation_scores(sources, targets)  # the floor a paraphraser must beat: the source itself
        s.update(n_train=final.n_train, n_test=len(targets), n_sweep_train=sweep.n_train,
                 copy_source_rouge_l=copied["rouge_l"], copy_source_bleu=copied["bleu"], decode={})

        def scored(sp, texts):
            _, sources, targets = split_data[sp.name]
            examples = [{"src": a, "tgt": b, "pred": c} for a, b, c in zip(sources[:3], targets, texts)]
            return {**scoring.generation_scores(texts, targets, sources), "gen_examples": examples}

        for label, model in self.inits():
            centre = self.centre("seq2seq", s, model)
            keys = nlpkit_side.config_keys("seq2seq", model)  # the peer decodes as nlpkit's run does
            decode = s["decode"][label] = {k: int(keys[f"decode.{k}"][0])
                                           for k in ("beam_size", "max_new_tokens", "min_new_tokens")}

            def ours(sp, lr, label=label, model=model):
                pred, timing, own = self.nlpkit_predicted("seq2seq", sp, s, lr, split_data[sp.name][1],
                                                          f"seq2seq_{label}", model,
                                                          max_target_length=s["max_target_length"])
                return {**timing, **scored(sp, [p["text"] for p in pred]),
                        **({"nlpkit_evaluate_rouge_l": own["rouge-l"], "nlpkit_evaluate_bleu": own["bleu"]}
                           if own else {})}
            self.tuned("seq2seq", self.named("nlpkit", label), ours, s, sweep, final, centre)
            if model == "tiny" and self.args.init != "tiny":
                continue  # from scratch, the peer's row is --init tiny's

            def peer(sp, lr, label=label, model=model, decode=decode):
                ref = self.seq2seq_reference(sp, split_data[sp.name][0], model)
                out = self.child("unilm_seq2seq:run", {
                    **ref, "train": sp.train, "test": sp.scored, "tiny": tiny, "epochs": sp.epochs,
                    "batch_size": s["batch_size"], "lr": lr, "max_length": s["max_length"],
                    "max_target_length": s["max_target_length"], "decode": decode, "workdir": str(w)},
                    f"unilm_seq2seq_{label}_{sp.name}")
                return {**self.timing(sp.n_train, sp.epochs, out), **scored(sp, out["predictions"]),
                        "inputs_checked": out["inputs_checked"], "n_params": out["n_params"],
                        **({"init_new_weights": out["init_load_check"]["new"]} if out.get("init_load_check") else {})}
            self.tuned("seq2seq", self.named("bert4torch UniLM", label), peer, s, sweep, final, centre)

    def seq2seq_reference(self, split, pairs, model):
        """What the seq2seq peer must see: the vocabulary of nlpkit's run from `model` on this split and that
        run's own encodings (its task cuts the target to max_target_length and the source to what is left, so
        Tokenizer.encode of the pair is not the reference) of the longest training pairs, where the cuts
        happen, then the first ones: CHECK_TEXTS pairs in all."""
        run = self.split_runs.get(("seq2seq", model, split.name))
        if run is None:
            raise RuntimeError("no nlpkit run on this split, whose encodings are the peer's reference: not trained")
        longest = sorted(range(len(pairs)), key=lambda i: -len(pairs[i][0]) - len(pairs[i][1]))[: CHECK_TEXTS // 10]
        rest = [i for i in range(len(pairs)) if i not in set(longest)]
        check = [list(pairs[i]) for i in longest + rest[: CHECK_TEXTS - len(longest)]]
        enc = self.child("nlpkit_side:encodings", {"task": "seq2seq", "run": str(run),
                                                   "records": [{"src": a, "tgt": b} for a, b in check]},
                         f"encodings_seq2seq_{Path(model).name}_{split.name}")
        return {"vocab": str(Path(run) / "vocab.txt"), **({"init": model} if model != "tiny" else {}),
                "check": {"texts": check, "ids": enc["ids"], "types": enc["types"], "labels": [],
                          "source": f"nlpkit run {Path(run).name} (its task's encode)"}}

    # ---- mlm: domain-adaptive pretraining (DAPT) ---------------------------------------------
    def mlm(self):
        """DAPT of each --checkpoints folder with an MLM head on People's Daily + DuIE text, scored on held-out
        text before and after, then ner and triples fine-tuned from the checkpoint and from the DAPT run."""
        s = self.setting("mlm")
        if self.args.init == "tiny":
            self.add("mlm", "nlpkit DAPT", {"skipped": "adapts a checkpoint: run with --init pretrained"})
            return
        if self.args.limit:  # development runs: the steps and the fine-tuning files too
            s.update({k: min(s[k], self.args.limit)
                      for k in ("steps", "ner_train", "ner_test", "triples_train", "triples_test")})
        w = self.folder("mlm")
        corpus, held = self.dapt_corpus(s, w)
        downstream = self.dapt_downstream(s, w)
        for label, model in self.inits():
            if model == "tiny":
                continue  # pretraining the tiny model from scratch: scripts/bench_mlm.py
            if has_mlm_head(model):
                self.dapt(label, model, s, corpus, held, downstream)
            else:
                self.add("mlm", self.named("nlpkit DAPT", label), {
                    "skipped": "no MLM head in the checkpoint: before DAPT it would be scored with a random head"})

    def dapt_corpus(self, s, w):
        """(corpus, held-out) files. The corpus: People's Daily paragraphs (less those of the NER dev and test
        files, which the downstream tagger is scored on) and DuIE's training texts, shuffled, the first
        s["train"] kept; held out: s["test"] texts of each source drawn with MLM_SEED, never trained on."""
        import random

        ner = self.data / "peoples_daily" / "ner"
        scored = {text for name in ("dev.txt", "test.txt") for text, _ in read_bio(ner / name)}
        daily = (self.data / "peoples_daily" / "text.txt").read_text(encoding="utf-8").splitlines()
        sources = {"peoples_daily": [p.strip() for p in daily if p.strip() and p.strip() not in scored],
                   "duie": [r["text"].strip() for r in read_jsonl(self.data / "duie" / "train.jsonl")]}
        rng, corpus, held = random.Random(MLM_SEED), [], []
        for name, texts in sources.items():
            out = set(rng.sample(range(len(texts)), min(s["test"], len(texts))))
            held += [texts[i] for i in sorted(out)]
            corpus += [t for i, t in enumerate(texts) if i not in out]
            s[f"held_out_{name}"] = len(out)
        rng.shuffle(corpus)  # both sources throughout (and in the first --limit lines)
        corpus = corpus[: s["train"]]
        s.update(corpus_lines=len(corpus), corpus_chars=sum(map(len, corpus)), excluded_ner_paragraphs=len(scored))
        paths = w / "corpus.txt", w / "held_out.txt"
        for path, texts in zip(paths, (corpus, held)):
            path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
        return paths

    def dapt_downstream(self, s, w):
        """{task: (split, its data, size, keys)}: the first s["<task>_train"] / s["<task>_test"] records of ner
        (People's Daily, crf head) and triples (DuIE, casrel head: from albert-tiny at its profile's rate gplinker
        scores 0 at these budgets, which would hide any effect), s["epochs"] epochs, at the ner and
        triples budgets' batch size and max_length."""
        pd, duie = self.data / "peoples_daily" / "ner", self.data / "duie"
        plan = {"ner": (pd, ".txt", first_paragraphs, ner_data, {"head": "crf"}),
                "triples": (duie, ".jsonl", first_lines, triples_data,
                            {"head": "casrel", "schema": str(duie / "schema.jsonl")})}
        out = {}
        for task, (folder, ext, subset, read, keys) in plan.items():
            split = Split("dapt", subset(folder / f"train{ext}", s[f"{task}_train"], w / f"{task}_train{ext}"),
                          subset(folder / f"test{ext}", s[f"{task}_test"], w / f"{task}_test{ext}"), s["epochs"], 0)
            data = read(split)
            budget = BUDGETS[self.args.budget][task]
            size = {"batch_size": budget["batch_size"], "max_length": budget["max_length"]}
            s[task] = {**size, **keys, "n_train": split.n_train, "n_test": len(data[1])}
            out[task] = (split, data, size, keys)
        return out

    def dapt(self, label, model, s, corpus, held, downstream):
        """One checkpoint: masked-token accuracy on the held-out text before and after s["steps"] steps of DAPT
        at its profile's rate (the same masks: max_length, seed and batch given to both evaluations), then
        each downstream task fine-tuned from the checkpoint and from the DAPT run at the checkpoint's profile
        rate; the DAPT row's f1_gain is its F1 minus the checkpoint's."""
        masks = [f"max_length={s['max_length']}", f"seed={MLM_SEED}", "trainer.eval_batch_size=64"]
        self.attempt("mlm", self.named("checkpoint (no DAPT)", label),
                     lambda: nlpkit_side.evaluate(model, held, self.threads, self.log, "task=mlm", *masks))
        lr, run_dir = self.centre("mlm", s, model), self.folder("runs") / f"mlm_dapt_{label}"

        def adapt():
            trained = nlpkit_side.train("mlm", corpus, run_dir, {
                "trainer.max_steps": s["steps"], "trainer.batch_size": s["batch_size"], "trainer.lr": lr,
                "max_length": s["max_length"]}, self.threads, self.log, model)
            return {"lr": lr, **self.timing(s["steps"] * s["batch_size"], 1, trained),
                    **nlpkit_side.evaluate(run_dir, held, self.threads, self.log, *masks)}
        if "error" in self.attempt("mlm", self.named(f"nlpkit DAPT {s['steps']} steps", label), adapt):
            return
        for task, (split, data, size, keys) in downstream.items():
            rate, f1, scored = self.centre(task, size, model), {}, getattr(self, f"{task}_scored")
            for start, source in (("checkpoint", model), ("DAPT", run_dir)):
                def one(start=start, source=source):
                    name = f"dapt_{task}_{label}_{start}"
                    return {"lr": rate, **scored(split, size, rate, data, name, source, **keys)}
                system = self.named(f"{task} {keys['head']} from {start}", label)
                f1[start] = self.attempt("mlm", system, one).get("f1")
            if None not in f1.values():
                self.results["mlm"][system]["f1_gain"] = f1["DAPT"] - f1["checkpoint"]

    # ---- reading, nl2sql: their bundled samples ----------------------------------------------
    def reading(self):
        self.on_sample("reading")

    def nl2sql(self):
        self.on_sample("nl2sql")

    def on_sample(self, cap):
        """No public data offline: from each starting point, nlpkit's task trained on its bundled sample (the
        files its config defaults to) for the budget's epochs with its profile's recipe, then `nlpkit evaluate`
        on the sample's dev file. It shows the path works end to end from each checkpoint: no peer, and the
        scores after an epoch or two on a synthetic sample are no benchmark."""
        import yaml
        from nlpkit.registry import get_task_class

        s, w, task = self.setting(cap), self.folder(cap), get_task_class(cap)
        train = first_records(task.sample_path("train"), s["train"], w / "train")
        dev = first_records(task.sample_path("dev"), s["test"], w / "dev")
        s.update(train_file=train, dev_file=dev, n_train=len(sample_records(train)),
                 n_test=len(sample_records(dev)))
        for label, model in self.inits():
            def one(label=label, model=model):
                run_dir, rows = self.folder("runs") / f"{cap}_sample_{label}", w / f"dev_predictions_{label}.jsonl"
                trained = nlpkit_side.train(cap, train, run_dir, {"trainer.epochs": s["epochs"]}, self.threads,
                                            self.log, model)
                config = yaml.safe_load((run_dir / "nlpkit.yaml").read_text(encoding="utf-8"))
                metrics = nlpkit_side.evaluate(run_dir, dev, self.threads, self.log, f"output={rows}")
                checks = getattr(self, f"{cap}_checks", lambda *_: {})(dev, rows)
                return {"lr": config["trainer"]["lr"], **self.timing(s["n_train"], s["epochs"], trained),
                        **metrics, **checks}
            self.attempt(cap, self.named("nlpkit", label), one)

    @staticmethod
    def reading_checks(dev, rows):
        """The answers as a user reads them: answers_in_passage is the share of the non-empty ones found
        verbatim in one of their question's passages (clean text: no [UNK], WordPiece ## or spaces between
        characters; the decoding is extractive), with the first few that are not as examples."""
        pairs = [(record, json.loads(line)["answer"]) for record, line in
                 zip(sample_records(dev), Path(rows).read_text(encoding="utf-8").splitlines())]
        said = [(r, a) for r, a in pairs if a]
        foreign = [a for r, a in said if not any(a in p["passage"] for p in r["passages"])]
        return {"answers_in_passage": (len(said) - len(foreign)) / len(said) if said else None,
                "answers_empty": (len(pairs) - len(said)) / len(pairs) if pairs else None,
                "answers_not_in_passage": foreign[:5]}

    # ---- jose ---------------------------------------------------------------------------------
    def jose(self):
        import logging

        import jieba

        s = self.setting("jose")
        w = self.folder("jose")
        rows = read_tsv(self.data / "reviews" / "train.tsv")
        if s["docs"] is not None:
            rows = rows[: s["docs"]]
        jieba.setLogLevel(logging.WARNING)
        docs, labels = [], []
        t0 = time.perf_counter()
        for text, label in rows:  # words with a letter or digit (CJK included): punctuation left out
            words = [x for x in jieba.cut(text) if any(ch.isalnum() for ch in x)]
            if words:
                docs.append(" ".join(words))
                labels.append(label)
        s.update(n_docs=len(docs), segment_s=round(time.perf_counter() - t0, 2), threads=self.threads)
        corpus, labels_path = w / "corpus.txt", w / "labels.txt"
        corpus.write_text("".join(d + "\n" for d in docs), encoding="utf-8")
        labels_path.write_text("".join(y + "\n" for y in labels), encoding="utf-8")
        out = {}

        def both():
            out.update(self.child("jose_side:run", {"corpus": str(corpus), "labels": str(labels_path),
                                                    "epochs": s["epochs"], "workdir": str(w),
                                                    "jose_bin": self.args.jose_bin}, "jose"))
            return {}
        system = "nlpkit JoSE + gensim Doc2Vec" + (" + JoSE C" if self.args.jose_bin else "")
        if self.skipped(system):
            return
        row = self.attempt("jose", system, both, store=False)  # one child trains both: one load reading
        if "error" in row:
            self.add("jose", system, row)
            return
        out.update(load_avg_start=row["load_avg_start"], load_avg_end=row["load_avg_end"])
        names = {"nlpkit_jose": "nlpkit JoSE", "gensim_doc2vec_dbow": "gensim Doc2Vec DBOW", "jose_c": "JoSE C"}
        if "results" in out:
            s["words"] = out["results"]["nlpkit_jose"]["words"]
            for key, r in out["results"].items():
                self.add("jose", names[key], {"words_per_s": r["words_per_s"], "train_s": r["train_s"],
                                              "load_avg_start": out["load_avg_start"],
                                              "load_avg_end": out["load_avg_end"], "libraries": libraries_of(names[key]),
                                              "train_cpu_s": r["cpu_s"], "knn_accuracy": r["knn"],
                                              **({"jit_s": r["jit_s"]} if "jit_s" in r else {}),
                                              **({"infer_s": r["infer_s"]} if "infer_s" in r else {})})
        elif "jose" not in self.results:
            self.add("jose", "nlpkit JoSE + gensim Doc2Vec", {"error": "no results"})

    # ---- wordcount ----------------------------------------------------------------------------
    def wordcount(self):
        s = self.setting("wordcount")
        w = self.folder("wordcount")
        import bench_wordcount

        text = (self.data / "peoples_daily" / "text.txt").read_text(encoding="utf-8")
        if self.args.limit:
            text = "".join(line + "\n" for line in text.splitlines()[: self.args.limit])
        if not text.endswith("\n"):
            text += "\n"
        corpus = self.folder("wordcount/corpus")
        (corpus / f"peoples_daily_x{s['copies']}.txt").write_text(text * s["copies"], encoding="utf-8")
        mb = len((text * s["copies"]).encode()) / 1e6
        s.update(corpus_mb=round(mb, 2), workers=2)
        names = {"loop": "jieba.cut loop", "enable_parallel": "jieba.enable_parallel(2)",
                 "ours_j1": "nlpkit wordcount -j 1", "ours_jN": "nlpkit wordcount -j 2"}
        counts = {}
        for key, system in names.items():
            def one(key=key):
                seconds, c, peak, cpu = bench_wordcount.measure(key, corpus, 2, w)
                counts[key] = c
                return {"seconds": seconds, "mb_per_s": mb / seconds, "tokens_per_s": sum(c.values()) / seconds,
                        "cpu_s": cpu, "peak_rss_mb": peak, "types": len(c)}
            if not self.skipped(system):
                self.attempt("wordcount", system, one)
        if "loop" in counts:
            for key, system in names.items():
                if key in counts and system in self.results.get("wordcount", {}):
                    self.results["wordcount"][system]["exact"] = counts[key] == counts["loop"]
            loop_s = self.results["wordcount"][names["loop"]]["seconds"]
            for key, system in names.items():
                row = self.results["wordcount"].get(system, {})
                if "seconds" in row:
                    row["speedup_vs_loop"] = loop_s / row["seconds"]


def clean_generated(text):
    """Generated text as a user reads it: whitespace next to a CJK character or full-width punctuation
    removed (bert4torch's decode puts a space after punctuation; nlpkit's does not)."""
    return re.sub(r"\s+(?=[^\x00-\x7f])|(?<=[^\x00-\x7f])\s+", "", text).strip()


# ---- output -------------------------------------------------------------------------------------
SPEED_KEYS = (("records_per_s", "rec/s"), ("words_per_s", "words/s"), ("mb_per_s", "MB/s"))
SHOWN = {
    "triples": ("precision", "recall", "f1", "nlpkit_evaluate_f1"),
    "ner": ("precision", "recall", "f1", "nlpkit_evaluate_f1"),
    "classify": ("accuracy", "macro_f1"),
    "classify_hotel": ("accuracy", "macro_f1"),
    "classify_lcqmc": ("accuracy", "macro_f1"),
    "cond_lm": ("perplexity", "cond_accuracy_likelihood", "gen_cond_accuracy", "distinct_2", "gen_empty"),
    "seq2seq": ("rouge_l", "bleu", "nlpkit_evaluate_rouge_l", "copies_source", "gen_empty"),
    "jose": ("knn_accuracy",),
    "wordcount": ("seconds", "exact", "speedup_vs_loop"),
    "mlm": ("masked_accuracy", "perplexity", "precision", "recall", "f1", "f1_gain"),
    "reading": ("final", "accuracy", "f1", "no_answer_recall", "answers_in_passage", "answers_empty"),
    "nl2sql": ("logic_form_acc", "exec_acc", "sel_acc", "agg_acc", "cond_col_acc", "cond_val_acc"),
}


def fmt(v):
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:,.1f}"
    return str(v)


def table(results):
    lines = [f"{'capability':10s} {'system':30s} {'speed':>16s} {'kpos/s':>7s} {'train s':>8s} {'lr':>7s}  scores"]
    for cap in CAPABILITIES:
        for system, row in results.get(cap, {}).items():
            if "error" in row or "skipped" in row:
                what = "ERROR: " + row["error"] if "error" in row else "skipped: " + row["skipped"]
                lines.append(f"{cap:10s} {system:30s} {what[:140]}")
                continue
            speed = next((f"{row[k]:,.{1 if row[k] >= 10 else 3}f} {unit}" for k, unit in SPEED_KEYS
                          if row.get(k) is not None), "")
            train = f"{row['train_s']:.1f}" if isinstance(row.get("train_s"), (int, float)) else ""
            positions = f"{row['positions_per_s'] / 1000:.1f}" if row.get("positions_per_s") else ""
            lr = f"{row['lr']:g}" if row.get("lr") else ""
            scores = "  ".join(f"{k}={fmt(row[k])}" for k in SHOWN[cap] if row.get(k) is not None)
            lines.append(f"{cap:10s} {system:30s} {speed:>16s} {positions:>7s} {train:>8s} {lr:>7s}  {scores}")
    return "\n".join(lines)


def rounded(obj):
    if isinstance(obj, float):
        return round(obj, 5)
    if isinstance(obj, dict):
        return {k: rounded(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v) for v in obj]
    return obj


def child_main(target, spec_path, result_path):
    module, func = target.split(":")
    import importlib

    from bench_peers.common import InputMismatch

    fn = getattr(importlib.import_module(f"bench_peers.{module}"), func)
    try:
        result = fn(json.loads(Path(spec_path).read_text(encoding="utf-8")))
    except InputMismatch as e:  # one line for the row, instead of a traceback
        result = {"input_mismatch": str(e)}
    Path(result_path).write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--_child"]:
        child_main(*argv[1:4])
        return 0
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()),
                                 epilog="See the module docstring for budgets and recipes.")
    ap.add_argument("--only", help=f"comma-separated capabilities (default all: {','.join(CAPABILITIES)})")
    ap.add_argument("--budget", choices=sorted(BUDGETS), default="medium")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch / OpenMP threads of every trainer (jose: its training threads)")
    ap.add_argument("--limit", type=int, help="cap every file at N records (development runs)")
    ap.add_argument("--epochs", type=int, help="override the budget's epochs (development runs)")
    ap.add_argument("--skip", action="append", metavar="TEXT",
                    help="leave out the systems whose name contains TEXT (repeatable), e.g. --skip gplinker")
    ap.add_argument("--no-sweep", dest="sweep", action="store_false",
                    help="train every system at the budget's rate instead of picking it by the dev sweep")
    ap.add_argument("--init", choices=("tiny", "pretrained"), default="tiny",
                    help="tiny: every system from a random tiny model; pretrained: from each --checkpoints "
                         "folder (nlpkit and the peers), plus nlpkit's tiny model from scratch at the same budget")
    ap.add_argument("--checkpoints", default="albert-tiny-chinese",
                    help="--init pretrained: comma-separated folders under $NLPKIT_CACHE/models (real_models.py)")
    ap.add_argument("--jose-bin", help="the original JoSE C program (built by you), to run it too")
    ap.add_argument("--data", default=str(SCRIPTS.parent / "data" / "real"), help="real_data.py's output folder")
    ap.add_argument("--workdir", help="keep runs, logs and subsets here (default: a temporary folder, removed)")
    args = ap.parse_args(argv)
    only = [c.strip() for c in (args.only or ",".join(CAPABILITIES)).split(",") if c.strip()]
    unknown = [c for c in only if c not in CAPABILITIES]
    if unknown:
        ap.error(f"unknown capability {unknown[0]!r}; choose from {', '.join(CAPABILITIES)}")
    needed = {"triples": "duie/train.jsonl", "ner": "peoples_daily/ner/train.txt", "classify": "reviews/train.tsv",
              "classify_hotel": "chnsenticorp/train.tsv", "classify_lcqmc": "lcqmc/train.tsv",
              "cond_lm": "reviews/train.tsv", "seq2seq": "lcqmc_paraphrase/train.jsonl", "jose": "reviews/train.tsv",
              "wordcount": "peoples_daily/text.txt", "mlm": "peoples_daily/text.txt"}  # reading, nl2sql: samples
    missing = [needed[c] for c in only if c in needed and not (Path(args.data) / needed[c]).exists()]
    if missing:
        ap.error(f"{args.data}/{missing[0]} not found: run `python scripts/real_data.py` first")

    if args.init == "pretrained":
        absent = [n for n in args.checkpoints.split(",") if not (MODELS / n / "config.json").exists()]
        if absent:
            ap.error(f"{MODELS / absent[0]} not found: run `python scripts/real_models.py` first")
    bench = Bench(args)
    start, load = time.perf_counter(), os.getloadavg()[0]
    say(f"budget {args.budget}, threads {args.threads}, capabilities {','.join(only)}; work folder {bench.work} "
        f"(log: {bench.log}); load average {load:.2f} on {os.cpu_count()} CPUs")
    try:
        for cap in only:
            getattr(bench, cap)()
    finally:
        failed = any("error" in r for rows in bench.results.values() for r in rows.values())
        if failed:
            say(f"some systems failed: runs and log kept in {bench.work}")
        elif not args.workdir:
            shutil.rmtree(bench.work, ignore_errors=True)
    summary = {"bench": "real", "budget": args.budget, "init": args.init,
               "checkpoints": args.checkpoints if args.init == "pretrained" else None,
               "threads": args.threads, "cpu_count": os.cpu_count(),
               "load_avg_1min_start": round(load, 2), "load_avg_1min_end": round(os.getloadavg()[0], 2),
               "total_s": round(time.perf_counter() - start, 1), "nlpkit_commit": git_commit(),
               "versions": versions(), "python": sys.version.split()[0], "sweep": args.sweep,
               "limit": args.limit, "epochs_override": args.epochs, "notes": bench.notes,
               "settings": bench.settings, "results": bench.results, "sweeps": bench.sweeps}
    print(table(bench.results))
    print(json.dumps(rounded(summary), ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
