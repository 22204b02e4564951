"""Runners for scripts/bench_real.py: one module per system, each run in a fresh child process.

    nlpkit_side  nlpkit through its public surface: `nlpkit config` / `nlpkit train` (a child process),
                 `nlpkit.pipeline` and `nlpkit evaluate` (its entry point, in the prediction child)
    casrel       bert4torch 0.6.0's CasRel example (triples)
    ner_crf      bert4torch 0.6.0's BERT+CRF NER example
    hf_classify  transformers' AutoModelForSequenceClassification + Trainer (the run_glue.py recipe; pairs too)
    hf_ner       transformers' AutoModelForTokenClassification + Trainer (the run_ner.py recipe)
    checkpoints  spec["init"]: a pretrained folder, and bert4torch loading it (checked against transformers)
    cln_lm       bert4torch 0.6.0's conditional language model example (label -> conditional LayerNorm)
    unilm_seq2seq  bert4torch 0.6.0's UniLM seq2seq example (task_seq2seq_autotitle; paraphrases here)
    jose_side    nlpkit JoSE vs gensim Doc2Vec (and the JoSE C program), through scripts/bench_jose.py
    scoring      the scorers every system of a capability is judged by

A runner module has `run(spec) -> dict`: `spec` is a JSON-able dict (paths, sizes, budget), the result
is JSON-able (timings and raw predictions; the parent scores predictions with `scoring`, so every
system of a row is measured by the same function). spec["init"] = a checkpoint folder trains the peer
from it; absent or None, from a random model at nlpkit's tiny size with nlpkit's vocabulary.
"""
