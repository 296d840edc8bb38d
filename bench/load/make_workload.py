#!/usr/bin/env python3
"""Request bodies for bench/run_load.sh, from the Linux kernel documentation.

Writes, into --out (one JSON body per line, the format quarry_load_gen and
wrk_bodies.lua read):
  search.jsonl  hybrid searches; each query is a section heading of the docs
                (h1-h4 text, deduplicated, shuffled with a fixed seed): the
                short, topical questions a documentation search gets
  embed.jsonl   /v1/embeddings calls with the same headings, one string each
  writer.jsonl  document upserts for the concurrent writer: one whole HTML page
                per request, id "load-writer-{{n}}" and a paragraph naming
                {{n}} (quarry_load_gen --template numbers them), so every
                upsert adds a new document
Only the standard library is used.
"""
import argparse
import html.parser
import json
import os
import random
import re


class Headings(html.parser.HTMLParser):
    """Collects the text of <h1>..<h4>, without Sphinx's "¶" permalinks."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.skip = 0
        self.current = []
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in ("h1", "h2", "h3", "h4"):
            self.depth += 1
            self.current = []
        elif self.depth and tag == "a" and ("class", "headerlink") in attrs:
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3", "h4") and self.depth:
            self.depth -= 1
            text = " ".join("".join(self.current).split())
            self.found.append(text)
        elif tag == "a" and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if self.depth and not self.skip:
            self.current.append(data)


def html_files(root):
    out = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name.endswith(".html"):
                out.append(os.path.join(dirpath, name))
    return sorted(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", required=True, help="folder of HTML files")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--model", required=True, help="model id for /v1/embeddings")
    parser.add_argument("--queries", type=int, default=20000, help="at most this many distinct queries")
    parser.add_argument("--writer-docs", type=int, default=200, help="distinct pages for the writer")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args()

    files = html_files(args.corpus)
    if not files:
        raise SystemExit(f"make_workload.py: no .html files under {args.corpus}")
    seen = set()
    queries = []
    for path in files:
        collector = Headings()
        with open(path, encoding="utf-8", errors="replace") as f:
            collector.feed(f.read())
        for text in collector.found:
            key = text.lower()
            # Real questions: a few words, not index letters or symbols only.
            if 8 <= len(text) <= 100 and any(c.isalpha() for c in text) and key not in seen:
                seen.add(key)
                queries.append(text)
    rng = random.Random(args.seed)
    rng.shuffle(queries)
    queries = queries[: args.queries]

    # The writer: mid-sized pages (4-32 KB of HTML), a fixed random sample.
    sized = [p for p in files if 4_000 <= os.path.getsize(p) <= 32_000]
    pages = rng.sample(sized, min(args.writer_docs, len(sized)))

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "search.jsonl"), "w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps({"query": q, "mode": "hybrid", "limit": 10}) + "\n")
    with open(os.path.join(args.out, "embed.jsonl"), "w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps({"model": args.model, "input": q}) + "\n")
    with open(os.path.join(args.out, "writer.jsonl"), "w", encoding="utf-8") as f:
        for path in pages:
            with open(path, encoding="utf-8", errors="replace") as page:
                content = page.read()
            content = re.sub(r"(<body[^>]*>)", r"\1<p>Load test revision {{n}}.</p>", content, count=1)
            doc = {"id": "load-writer-{{n}}", "html": content, "source": os.path.relpath(path, args.corpus)}
            f.write(json.dumps({"documents": [doc]}, ensure_ascii=False) + "\n")
    print(json.dumps({"queries": len(queries), "writer_pages": len(pages), "files": len(files)}))


if __name__ == "__main__":
    main()
