"""Decoding of both heads into token spans, and token spans into character spans of the original text.

casrel: pointer starts and ends above their thresholds, each start paired with the nearest end at or
after it. gplinker: entity spans scoring above the threshold, linked per predicate where both the
head pair and the tail pair do."""
import torch


def pair_pointers(start_probs, end_probs, valid, threshold):
    """start_probs, end_probs (L,) -> [(start, end)] token spans, start ascending."""
    starts = ((start_probs > threshold) & valid).nonzero().flatten().tolist()
    ends = ((end_probs > threshold) & valid).nonzero().flatten().tolist()
    spans = []
    for s in starts:
        later = [e for e in ends if e >= s]
        if later:
            spans.append((s, later[0]))
    return spans


def subject_spans(subject_probs, valid, threshold):
    """subject_probs (L, 2) -> token spans of the subjects."""
    return pair_pointers(subject_probs[:, 0], subject_probs[:, 1], valid, threshold)


def object_spans(object_probs, valid, threshold):
    """object_probs (L, P, 2) of one subject -> [(predicate_index, start, end)].

    Ends are only paired with starts of the same predicate."""
    found = []
    hits = (object_probs[..., 0] > threshold) & valid[:, None]
    for p in hits.any(0).nonzero().flatten().tolist():
        for s, e in pair_pointers(object_probs[:, p, 0], object_probs[:, p, 1], valid, threshold):
            found.append((p, s, e))
    return found


def gplinker_triples(entity, head, tail, threshold):
    """Scores of one sentence, entity (2, L, L) and head, tail (P, L, L) -> [(ss, se, p, os, oe)] token
    triples, sorted. Masked pairs score far below any allowed threshold."""
    subjects = (entity[0] > threshold).nonzero()  # (S, 2) start, end
    objects = (entity[1] > threshold).nonzero()
    if not len(subjects) or not len(objects):
        return []
    # (P, S, O): every subject against every object at once
    heads = head[:, subjects[:, 0]][:, :, objects[:, 0]] > threshold
    tails = tail[:, subjects[:, 1]][:, :, objects[:, 1]] > threshold
    subjects, objects = subjects.tolist(), objects.tolist()
    return sorted((*subjects[i], p, *objects[j]) for p, i, j in (heads & tails).nonzero().tolist())


def char_span(offsets, start, end):
    """Token span (inclusive) -> [char_start, char_end) in the original text."""
    return [offsets[start][0], offsets[end][1]]


def valid_positions(sequence_ids, length):
    """Positions of the sentence's own tokens (not [CLS]/[SEP]/padding) as a bool tensor of `length`."""
    valid = torch.zeros(length, dtype=torch.bool)
    valid[: len(sequence_ids)] = torch.tensor([s == 0 for s in sequence_ids], dtype=torch.bool)
    return valid
