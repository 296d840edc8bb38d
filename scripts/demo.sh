#!/usr/bin/env bash
# The main job on the embedded default: index the PostgreSQL 15 manual into
# ./data and answer a few real questions. Run through `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
QUARRY=build/release/quarry
MANUAL=/usr/share/doc/postgresql-doc-15/html
DATA=${QUARRY_DATA:-./data}
COLLECTION=postgres

if [ ! -d "$MANUAL" ]; then
  echo "the PostgreSQL manual is missing: scripts/install-deps.sh demo installs postgresql-doc-15" >&2
  exit 1
fi

echo "== indexing the PostgreSQL 15 manual ($MANUAL) into $DATA (collection '$COLLECTION')"
"$QUARRY" ingest "$MANUAL" --ext html --data "$DATA" --collection "$COLLECTION"
echo

for question in \
  "how do I prevent transaction ID wraparound" \
  "restore a database from a pg_dump backup" \
  "create an index without locking writes to the table" \
  "what does the autovacuum daemon do"; do
  echo "== $question"
  "$QUARRY" search "$question" --limit 3 --data "$DATA" --collection "$COLLECTION"
done

cat <<MSG
== try it yourself
  $QUARRY search "your question" --data $DATA --collection $COLLECTION [--limit 10] [--json]
  $QUARRY info --data $DATA
  $QUARRY ingest PATH... --data $DATA --collection NAME     (html, md, txt, BEIR jsonl)
  $QUARRY eval --beir ../shared/data/scifact --data $DATA   (nDCG@10, Recall@100, MRR@10)
== serving it
  $QUARRY serve --data $DATA --port 6333 [--model DIR]... [--redis redis://127.0.0.1:6379]
  curl -s -X POST localhost:6333/collections/$COLLECTION/search -d '{"query": "vacuum", "limit": 3}'
  (Qdrant-style collections, document routes, /v1/embeddings, /v1/rerank, /metrics: docs/API.md)
MSG
