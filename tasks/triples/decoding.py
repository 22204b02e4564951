"""Pointer decoding: starts and ends above their thresholds, each start paired with the nearest end
at or after it; token spans become character spans of the original text."""
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


def char_span(offsets, start, end):
    """Token span (inclusive) -> [char_start, char_end) in the original text."""
    return [offsets[start][0], offsets[end][1]]


def valid_positions(sequence_ids, length):
    """Positions of the sentence's own tokens (not [CLS]/[SEP]/padding) as a bool tensor of `length`."""
    valid = torch.zeros(length, dtype=torch.bool)
    valid[: len(sequence_ids)] = torch.tensor([s == 0 for s in sequence_ids], dtype=torch.bool)
    return valid
