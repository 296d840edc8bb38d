#!/bin/sh
# Regenerates everything under tests/data/tokenizer/ (run from anywhere).
# Needs: node + npm (npm registry), Debian packages sentencepiece (spm_train)
# and python3-sentencepiece.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/tests/data/tokenizer"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

npm install --prefix "$here" --no-audit --no-fund
/usr/bin/python3 "$here/texts.py" > "$here/texts.json"
/usr/bin/python3 "$here/corpus.py" > "$tmp/corpus.txt"
/usr/bin/python3 "$here/make_vocab.py" "$tmp/corpus.txt" > "$tmp/vocab.txt"
node "$here/gen_wordpiece.js" "$tmp/vocab.txt" "$here/texts.json" "$out"
train=--train
if [ "${KEEP_SPM_MODEL:-0}" = 1 ]; then train=; fi
/usr/bin/python3 "$here/gen_sentencepiece.py" ${train:+$train "$tmp/corpus.txt"} \
    "$here/texts.json" "$out/xlmr"
