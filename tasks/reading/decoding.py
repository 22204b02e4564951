"""Answer generation voted across the passages of a question: a step_logprobs hook of the shared
decoder (nlpkit.generation.generate), the way bert4keras' reading example overrides
AutoRegressiveDecoder.predict.

The passages of a question are the prompts of one group ([CLS] passage [SEP] question [SEP]); all
questions of a call are decoded in one batch. Step 0: a passage whose own most likely first token is
[SEP] says "no answer" and leaves the decoder; when every passage of a question leaves, its answer is
empty. Every step mixes the next-token distributions of the remaining passages into one vote per
hypothesis -- "square" is sum(p^2) / (sum(p) + 1) (confident passages weigh more, as in bert4keras'
reading example), "mean" the plain average -- and the shared beam search (beam_size=1 is greedy, no
length penalty) extends the question's hypotheses by the voted distribution, in all its passages.
mode="extractive" allows only tokens that extend the answer so far to a substring of one of the
voting passages (or [SEP] to end it); mode="abstractive" allows any token but the banned ones.
"""
import math
from dataclasses import dataclass

import torch

from nlpkit.errors import NlpkitError
from nlpkit.generation import DecodeConfig, generate

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


class PassageVote:
    """The step_logprobs hook: each hypothesis' next-token log-probs voted by its question's passages.

    One object per call: at step 0 it records which passages vote (`.voting`, one bool per prompt)."""

    def __init__(self, questions, *, sep_id, mode, how, banned):
        self.sep_id, self.mode, self.how, self.banned = sep_id, mode, how, sorted(banned)
        passages = [p for q in questions for _, p in q]
        self.passage_ids = torch.full((len(passages), max(map(len, passages), default=0) or 1), -1, dtype=torch.long)
        for r, p in enumerate(passages):
            self.passage_ids[r, : len(p)] = torch.tensor(p, dtype=torch.long)
        self.voting = None

    def __call__(self, logprobs, rows):
        step, probs = rows.generated.shape[1], logprobs.exp()
        if step == 0:  # the rows are the prompts, in order, and hypothesis = question
            self.voting = probs.argmax(1) != self.sep_id
        keep = self.voting[rows.prompt_index]
        voted = vote(probs[keep], rows.hypothesis[keep], rows.generated.shape[0], self.how)
        scores = voted.clamp(min=1e-30).log().masked_fill(~self._allowed(rows, keep, step, probs.shape[1]), -math.inf)
        if step == 0:
            scores = self._no_answer(scores, probs, rows.hypothesis, keep)
        return scores, keep

    def _allowed(self, rows, keep, step, vocab):
        """(hypotheses, vocab) bool: the tokens each hypothesis may take next."""
        hyps, device = rows.generated.shape[0], rows.generated.device
        if self.mode == "extractive":
            self.passage_ids = self.passage_ids.to(device)
            passage_ids = self.passage_ids[rows.prompt_index[keep]]
            answer = rows.generated[rows.hypothesis[keep]]
            match = passage_ids >= 0  # match[r, j]: the answer so far starts at token j of passage r
            for i in range(step):
                match &= shifted(passage_ids, i) == answer[:, i : i + 1]
            cont = substring_continuations(passage_ids, match, step, vocab)
            allowed = torch.zeros(hyps, vocab, device=device).index_add_(0, rows.hypothesis[keep], cont.float()) > 0
        else:
            allowed = torch.ones(hyps, vocab, dtype=torch.bool, device=device)
        allowed[:, self.banned] = False
        allowed[:, self.sep_id] = step > 0  # a passage that votes gives at least one token
        return allowed

    def _no_answer(self, scores, probs, question, keep):
        """A question none of whose passages votes can only end at once ("no answer"), with the
        passages' mean probability of [SEP] as its score."""
        silent = torch.ones(len(scores), dtype=torch.bool, device=scores.device)
        silent[question[keep]] = False
        ones = torch.ones(len(probs), device=probs.device)
        mean_sep = probs.new_zeros(len(scores)).index_add_(0, question, probs[:, self.sep_id])
        mean_sep = mean_sep / probs.new_zeros(len(scores)).index_add_(0, question, ones)
        only_sep = torch.full_like(scores, -math.inf)
        only_sep[:, self.sep_id] = mean_sep.log()
        return torch.where(silent[:, None], only_sep, scores)


def answer_questions(model, questions, *, sep_id, pad_id, max_len, mode="extractive", how="square", beam_size=1,
                     banned=(), use_cache=True):
    """questions: per question, a list of (prompt_ids, passage_ids) per passage -> list of Answer."""
    if mode not in MODES:
        raise NlpkitError(f"decode.mode={mode}: expected one of {', '.join(MODES)}")
    if how not in VOTES:
        raise NlpkitError(f"decode.vote={how}: expected one of {', '.join(VOTES)}")
    if not isinstance(max_len, int) or max_len < 1:
        raise NlpkitError(f"decode.max_new_tokens={max_len!r}: expected an integer >= 1")
    config = DecodeConfig(max_new_tokens=max_len, beam_size=beam_size, length_penalty=0.0)
    hook = PassageVote(questions, sep_id=sep_id, mode=mode, how=how, banned=banned)
    prompts = [prompt for q in questions for prompt, _ in q]
    groups = [qi for qi, q in enumerate(questions) for _ in q]
    best = generate(model, prompts, config, eos_id=sep_id, pad_id=pad_id, groups=groups, step_logprobs=hook,
                    use_cache=use_cache)
    voting, first, answers = hook.voting.tolist(), 0, []
    for q, hyps in zip(questions, best):
        voters = [k for k in range(len(q)) if voting[first + k]]
        first += len(q)
        ids, logprob = (hyps[0].ids, hyps[0].logprob) if hyps else ([], -math.inf)
        answers.append(Answer(ids, math.exp(logprob), len(voters), voters))
    return answers
