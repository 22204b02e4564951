"""Character spans <-> token spans through the tokenizer's offsets.

Entities are character spans of the original text; the model sees tokens, which may merge
characters (a number, a Latin word, a word piece) or skip them (spaces). An entity is learnt when
both its ends fall on token boundaries, and a predicted token span becomes the characters from its
first token's start to its last token's end -- so digits and Latin words map back exactly.
"""


def char_index(enc, text_length):
    """Character -> position of the token covering it, or None (a space, or cut off by max_length)."""
    index = [None] * text_length
    for i, ((start, end), seq) in enumerate(zip(enc.offsets, enc.sequence_ids)):
        if seq == 0:
            for c in range(start, end):
                index[c] = i
    return index


def align(enc, text_length, entities):
    """Entities -> ([(first_token, last_token, type)], number left out): an entity is left out when
    it lies beyond the kept tokens or an end falls inside a token."""
    index = char_index(enc, text_length)
    spans, left_out = [], 0
    for e in entities:
        first, last = index[e["start"]], index[e["end"] - 1]
        if first is None or last is None or enc.offsets[first][0] != e["start"] or enc.offsets[last][1] != e["end"]:
            left_out += 1
            continue
        spans.append((first, last, e["type"]))
    return spans, left_out


def char_entity(text, offsets, first, last, kind):
    """Token span [first, last] -> {"text", "start", "end", "type"} in characters, end exclusive."""
    start, end = offsets[first][0], offsets[last][1]
    return {"text": text[start:end], "start": start, "end": end, "type": kind}


def sort_entities(entities):
    return sorted(entities, key=lambda e: (e["start"], e["end"], e["type"]))
