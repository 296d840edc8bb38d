#!/usr/bin/python3
"""Writes an example workload JSON for the encoder anchors (random token ids).

    /usr/bin/python3 bench/embed/make_workload.py --model DIR --kind ingest --out W.json
        [--n N] [--min-len A] [--max-len B] [--batch-size S] [--query-len Q] [--seed 0]

Format (what Quarry's C++ driver writes too):
  {"model_dir": DIR, "workload": "ingest"|"query"|"rerank",
   "batches": [{"input_ids": [[...], ...], "token_type_ids": [[...], ...]}, ...]}
Sequences are unpadded; the anchors pad each batch to its own longest sequence.

Defaults per kind:
  ingest  1000 passages, lengths uniform in [20, 256], sorted by length, batches of 32
  query   50 single queries of 12 tokens (batch 1)
  rerank  one batch of 32 (query, passage) pairs of ~200 tokens: [CLS] q [SEP] p [SEP],
          token types 0 / 1 (all 0 when the model has type_vocab_size 1)
"""
import argparse
import json
import os

import numpy as np


def special_ids(cfg):
    if cfg.get("model_type") in ("xlm-roberta", "roberta"):
        return 0, 2           # <s>, </s>
    return 101, 102           # [CLS], [SEP] (bert-base-uncased vocabulary)


def body(rng, n, vocab):
    return rng.integers(1000 if vocab > 2000 else 5, vocab, size=n).tolist()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--kind", required=True, choices=["ingest", "query", "rerank"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int)
    ap.add_argument("--min-len", type=int)
    ap.add_argument("--max-len", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--query-len", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    vocab = cfg["vocab_size"]
    cls, sep = special_ids(cfg)
    two_types = cfg.get("type_vocab_size", 2) > 1
    rng = np.random.default_rng(args.seed)
    d = {"ingest": (1000, 20, 256, 32), "query": (50, 12, 12, 1), "rerank": (32, 190, 210, 32)}
    n, lo, hi, bs = d[args.kind]
    n = args.n or n
    lo = args.min_len or lo
    hi = args.max_len or hi
    bs = args.batch_size or bs

    lengths = rng.integers(lo, hi + 1, size=n)
    seqs, types = [], []
    for total in lengths:
        total = int(total)
        if args.kind == "rerank":
            q = args.query_len
            p = max(1, total - q - 3)
            ids = [cls] + body(rng, q, vocab) + [sep] + body(rng, p, vocab) + [sep]
            tt = [0] * (q + 2) + [1 if two_types else 0] * (p + 1)
        else:
            ids = [cls] + body(rng, max(0, total - 2), vocab) + [sep]
            tt = [0] * len(ids)
        seqs.append(ids)
        types.append(tt)
    if args.kind == "ingest":      # sort by length so batches pad little
        order = sorted(range(n), key=lambda i: len(seqs[i]))
        seqs = [seqs[i] for i in order]
        types = [types[i] for i in order]
    batches = [{"input_ids": seqs[i:i + bs], "token_type_ids": types[i:i + bs]}
               for i in range(0, n, bs)]
    w = {"model_dir": args.model, "workload": args.kind, "batches": batches}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(w, f, separators=(",", ":"))
    tokens = sum(len(s) for s in seqs)
    print(f"wrote {args.out}: {args.kind}, {n} sequences in {len(batches)} batches, "
          f"lengths {min(map(len, seqs))}-{max(map(len, seqs))}, {tokens} tokens")


if __name__ == "__main__":
    main()
