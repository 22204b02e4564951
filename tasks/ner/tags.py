"""Tag schemes: BIO (IOB2) and BIOES, both ways between tag sequences and spans.

Spans are (start, end, type) over the positions of a sequence (characters or tokens), end exclusive.
Reading tags is lenient, as conlleval is: an I-/E- tag that does not continue an entity of its type
starts one, so a model's slightly malformed output still yields entities. BMES data (M- for inside)
reads as BIOES.
"""

SCHEMES = ("bio", "bioes")
PREFIXES = {"bio": ("B", "I"), "bioes": ("B", "I", "E", "S")}
#: what the tag prefixes of a file say about its scheme
_BIOES_ONLY = {"E", "S", "M"}


def split_tag(tag):
    """'B-PER' -> ('B', 'PER'), 'O' -> ('O', None); None when the tag is not of that form."""
    if tag == "O":
        return "O", None
    prefix, sep, kind = tag.partition("-")
    if not sep or not kind or prefix not in ("B", "I", "E", "S", "M"):
        return None
    return prefix, kind


def detect_scheme(prefixes):
    """The scheme a set of tag prefixes was written in."""
    return "bioes" if set(prefixes) & _BIOES_ONLY else "bio"


def spans_from_tags(tags):
    """Tag strings -> [(start, end, type)], end exclusive, in order."""
    spans, open_ = [], None  # open_: [start, type] of the entity being read

    def close(end):
        nonlocal open_
        if open_ is not None:
            spans.append((open_[0], end, open_[1]))
            open_ = None

    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag) or ("O", None)
        continues = open_ is not None and open_[1] == kind
        if prefix in ("O", "B", "S") or not continues:
            close(i)
            if prefix != "O":
                open_ = [i, kind]
        if prefix in ("E", "S"):
            close(i + 1)
    close(len(tags))
    return spans


def tags_from_spans(length, spans, scheme):
    """[(start, end, type)] over `length` positions -> tag strings. A tag sequence holds no nesting:
    of overlapping spans the one starting first (at the same start, the longest) is kept."""
    tags = ["O"] * length
    for start, end, kind in sorted(spans, key=lambda s: (s[0], s[0] - s[1], s[2])):
        if start >= end or any(t != "O" for t in tags[start:end]):
            continue
        if scheme == "bioes" and end - start == 1:
            tags[start] = f"S-{kind}"
            continue
        tags[start] = f"B-{kind}"
        for i in range(start + 1, end):
            tags[i] = f"I-{kind}"
        if scheme == "bioes":
            tags[end - 1] = f"E-{kind}"
    return tags


def overlapping(text_length, entities, scheme):
    """How many of `entities` ({"start", "end", "type"}) one tag sequence cannot hold: those that
    overlap (nest in, cross) an entity tags_from_spans keeps."""
    spans = {(e["start"], e["end"], e["type"]) for e in entities}
    return len(spans) - len(spans_from_tags(tags_from_spans(text_length, spans, scheme)))


def tag_names(types, scheme):
    """The label vocabulary of a tagging head: 'O', then every prefix of every type."""
    return ["O"] + [f"{p}-{t}" for t in types for p in PREFIXES[scheme]]
