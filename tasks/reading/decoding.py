"""Answer generation voted across the passages of a question, on the shared IncrementalDecoder.

All passages of all questions of a call are rows of one decoder ([CLS] passage [SEP] question [SEP]).
Step 0: a passage whose own most likely first token is [SEP] says "no answer" and leaves; when
every passage of a question leaves, its answer is empty. Every later step mixes the next-token
distributions of the remaining passages into one vote per question -- "square" is
sum(p^2) / (sum(p) + 1) (confident passages weigh more, as in bert4keras' reading example),
"mean" the plain average -- and the question's hypotheses (beam search over the voted
distribution; beam_size=1 is greedy) continue with the chosen tokens in all its passages.
mode="extractive" allows only tokens that extend the answer so far to a substring of one of the
remaining passages (or [SEP] to end it); mode="abstractive" allows any non-special token.
"""
from dataclasses import dataclass

import torch

from nlpkit.errors import NlpkitError
from nlpkit.generation import IncrementalDecoder

MODES = ("extractive", "abstractive")
VOTES = ("square", "mean")


@dataclass
class Answer:
    ids: list
    #: product of the voted probabilities of the chosen tokens (incl. the closing [SEP]); for
    #: "no answer", the passages' mean probability of [SEP] as first token
    score: float
    #: passages that took part in the vote (0 = every passage said "no answer")
    votes: int
    #: the rows (passages) that voted, as indices into the question's passages
    voters: list


def vote(probs, group, groups, how):
    """(rows, V) distributions -> (groups, V) voted distributions, each summing to 1."""
    total = torch.zeros(groups, probs.shape[1], dtype=probs.dtype, device=probs.device).index_add_(0, group, probs)
    if how == "square":
        squares = torch.zeros_like(total).index_add_(0, group, probs * probs)
        voted = squares / (total + 1)
    else:
        voted = total
    return voted / voted.sum(1, keepdim=True).clamp(min=1e-30)


def shifted(passage_ids, step):
    """out[r, j] = passage_ids[r, j + step] (-1 past the end): the token after a match starting at j."""
    out = torch.full_like(passage_ids, -1)
    if step < passage_ids.shape[1]:
        out[:, : passage_ids.shape[1] - step] = passage_ids[:, step:]
    return out


def substring_continuations(passage_ids, match, step, vocab):
    """(rows, V) bool: the tokens that follow some occurrence of the answer so far in each row's passage.

    `match[r, j]` says the answer so far equals passage_ids[r, j : j + step]."""
    rows = passage_ids.shape[0]
    following = shifted(passage_ids, step)
    ok = match & (following >= 0)
    counts = torch.zeros(rows, vocab, device=passage_ids.device).scatter_add_(1, following.clamp(min=0), ok.float())
    return counts > 0


def _expand(hyps, logp, beam_size, sep_id, finished):
    """Best continuations of a question's hypotheses: (hypothesis, token, log-probability) for up to
    beam_size live ones; those ending with [SEP] go to `finished` as (ids, log-probability)."""
    vocab = logp.shape[1]
    cand = (torch.tensor([h[1] for h in hyps], device=logp.device)[:, None] + logp).view(-1)
    values, index = cand.topk(min(2 * beam_size, cand.numel()))
    keep = []
    for value, i in zip(values.tolist(), index.tolist()):
        if value == float("-inf"):
            break
        k, token = divmod(i, vocab)
        if token == sep_id:
            finished.append((hyps[k][0], value))
        else:
            keep.append((k, token, value))
        if len(keep) == beam_size or (beam_size == 1 and finished):
            break
    return keep


@torch.no_grad()
def answer_questions(model, questions, *, sep_id, pad_id, max_len, mode="extractive", how="square", beam_size=1,
                     banned=(), use_cache=True):
    """questions: per question, a list of (prompt_ids, passage_ids) per passage -> list of Answer."""
    if mode not in MODES:
        raise NlpkitError(f"decode.mode={mode}: expected one of {', '.join(MODES)}")
    if how not in VOTES:
        raise NlpkitError(f"decode.vote={how}: expected one of {', '.join(VOTES)}")
    if beam_size < 1 or max_len < 1:
        raise NlpkitError("decode.beam_size and max_a_len must be >= 1")
    prompts = [prompt for q in questions for prompt, _ in q]
    owner = [qi for qi, q in enumerate(questions) for _ in q]
    local = [pi for q in questions for pi in range(len(q))]
    was_training = model.training
    model.eval()
    try:
        dec = IncrementalDecoder(model, prompts, mask="unilm", pad_id=pad_id, use_cache=use_cache)
        device = dec.device
        width = max(len(p) for q in questions for _, p in q) or 1
        passage_ids = torch.full((len(prompts), width), -1, dtype=torch.long)
        for r, (_, p) in enumerate(pp for q in questions for pp in q):
            passage_ids[r, : len(p)] = torch.tensor(p, dtype=torch.long)
        passage_ids = passage_ids.to(device)

        probs = dec.logits().softmax(-1)
        vocab = probs.shape[1]
        says_none = (probs.argmax(-1) == sep_id).tolist()
        results = [None] * len(questions)
        voters = [[] for _ in questions]
        for r, qi in enumerate(owner):
            if not says_none[r]:
                voters[qi].append(r)
        for qi, q in enumerate(questions):
            if not voters[qi]:
                rows = [r for r, o in enumerate(owner) if o == qi]
                results[qi] = Answer([], float(probs[rows, sep_id].mean()), 0, [])

        # live hypotheses: per question a list of (token ids, log-probability); rows follow
        # the layout [question][hypothesis][voting passage]
        live = {qi: [([], 0.0)] for qi in range(len(questions)) if voters[qi]}
        finished = {qi: [] for qi in live}
        rows_of = {qi: [voters[qi]] for qi in live}  # decoder rows of each hypothesis' passages
        match = torch.ones(len(prompts), width, dtype=torch.bool, device=device) & (passage_ids >= 0)
        not_allowed = torch.zeros(vocab, dtype=torch.bool, device=device)
        not_allowed[list(banned)] = True
        for step in range(max_len):
            if not live:
                break
            order = [(qi, h) for qi in live for h in range(len(live[qi]))]
            flat_rows = [r for qi, h in order for r in rows_of[qi][h]]
            group = torch.tensor([g for g, (qi, h) in enumerate(order) for _ in rows_of[qi][h]], device=device)
            rows_t = torch.tensor(flat_rows, device=device)
            voted = vote(probs[rows_t], group, len(order), how)
            if mode == "extractive":
                cont = substring_continuations(passage_ids[dec.prompt_index[rows_t]], match[rows_t], step, vocab)
                allowed = torch.zeros(len(order), vocab, device=device).index_add_(0, group, cont.float()) > 0
            else:
                allowed = torch.ones(len(order), vocab, dtype=torch.bool, device=device)
            allowed &= ~not_allowed
            allowed[:, sep_id] = step > 0  # a passage that voted gives at least one token
            logp = voted.clamp(min=1e-30).log().masked_fill(~allowed, float("-inf"))

            new_live, new_rows, src, tokens = {}, {}, [], []
            for g0 in range(len(order)):
                qi, h = order[g0]
                if h:
                    continue
                hyps = live[qi]
                keep = _expand(hyps, logp[g0 : g0 + len(hyps)], beam_size, sep_id, finished[qi])
                best_done = max((v for _, v in finished[qi]), default=float("-inf"))
                if not keep or step == max_len - 1 or best_done >= keep[0][2]:
                    if not finished[qi] or step == max_len - 1:
                        finished[qi] += [(hyps[k][0] + [t], v) for k, t, v in keep]  # out of length
                    continue
                new_live[qi] = [(hyps[k][0] + [t], v) for k, t, v in keep]
                new_rows[qi] = []
                for k, token, _ in keep:
                    start = len(src)
                    for r in rows_of[qi][k]:
                        src.append(r)
                        tokens.append(token)
                    new_rows[qi].append(list(range(start, len(src))))
            for qi in live:
                if qi not in new_live:
                    ids, value = max(finished[qi], key=lambda x: x[1]) if finished[qi] else ([], float("-inf"))
                    results[qi] = Answer(ids, float(torch.tensor(value).exp()), len(voters[qi]),
                                         [local[r] for r in voters[qi]])
            live, rows_of = new_live, new_rows
            if not src:
                break
            src_t = torch.tensor(src, device=device)
            tok_t = torch.tensor(tokens, device=device)
            # a passage keeps the occurrences that the chosen token extends
            following = shifted(passage_ids[dec.prompt_index[src_t]], step)
            match = match[src_t] & (following == tok_t[:, None])
            dec.step(tok_t, reorder=src_t)
            probs = dec.logits().softmax(-1)
    finally:
        model.train(was_training)
    return results
