"""Baseline for `distill bench dedup`: MinHash + LSH near-dedup with Python's
`datasketch` on the same JSONL corpus (`{"id", "code"}` per line, written by
`datasets::dedup::synthetic::write_jsonl`), with the same settings as
`DedupConfig::default()`: 5-token shingles, 256 permutations as 32 bands x 8
rows, threshold 0.7 on the estimated Jaccard similarity, first record kept.

Tokens here are a regex split (`\\w+` or one punctuation character) with
`#` comments dropped and local names replaced by one placeholder (keywords,
builtins and attribute names kept), close to ours but not identical (string
literals are split into words here), so duplicate counts can differ slightly;
the work per record (tokenize, shingle, 256 hash permutations, LSH query and
insert) is the same.

    python3 datasketch_dedup.py CORPUS.jsonl   # prints one JSON line
"""
import builtins
import json
import keyword
import re
import sys
import time

from datasketch import MinHash, MinHashLSH

TOKEN = re.compile(r"\w+|[^\w\s]")
COMMENT = re.compile(r"#[^\n]*")


KEEP = set(keyword.kwlist) | set(dir(builtins)) | {"self", "cls"}


def canonical(code):
    out, prev = [], None
    for t in TOKEN.findall(COMMENT.sub("", code)):
        named = (t[0].isalpha() or t[0] == "_") and t not in KEEP and prev not in (".", "import", "from")
        out.append("\x00ID" if named else t)
        prev = t
    return out


def shingles(code, k=5):
    toks = canonical(code)
    if len(toks) < k:
        return {" ".join(toks)} if toks else set()
    return {" ".join(toks[i : i + k]) for i in range(len(toks) - k + 1)}


def main(path):
    records = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    lsh = MinHashLSH(num_perm=256, params=(32, 8))
    start = time.perf_counter()
    duplicates = 0
    for r in records:
        m = MinHash(num_perm=256)
        m.update_batch([s.encode("utf-8") for s in shingles(r["code"])])
        if any(m.jaccard(kept) >= 0.7 for kept in (lsh_sigs[k] for k in lsh.query(m))):
            duplicates += 1
            continue
        lsh.insert(r["id"], m)
        lsh_sigs[r["id"]] = m
    seconds = time.perf_counter() - start
    print(json.dumps({"records": len(records), "seconds": seconds,
                      "records_per_s": len(records) / seconds, "duplicates": duplicates,
                      "tool": "datasketch"}))


lsh_sigs = {}

if __name__ == "__main__":
    main(sys.argv[1])
