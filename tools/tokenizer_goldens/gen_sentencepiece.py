#!/usr/bin/python3
"""Trains a small SentencePiece model and writes XLM-RoBERTa golden ids.

The ids are those of Hugging Face's slow XLMRobertaTokenizer, computed here
with the SentencePiece Python binding (Debian python3-sentencepiece):
  - the special tokens <s> <pad> </s> <unk> <mask> typed in the text are cut out
    first (<mask> strips the spaces on its left), every other piece is encoded
    on its own with sp.encode(piece, out_type=str);
  - fairseq's layout: <s>=0 <pad>=1 </s>=2 <unk>=3, id = PieceToId(piece) + 1,
    PieceToId == 0 (unknown) -> 3, <mask> = len(sp) + 1;
  - single: <s> A </s>, pair: <s> A </s> </s> B </s>, all type ids 0;
  - truncation: HF tokenizers' (Rust) truncate_encodings, the rule the fast
    tokenizer (what AutoTokenizer returns) applies; see truncate() below.

Run (from the repository root):
  /usr/bin/python3 tools/tokenizer_goldens/corpus.py > /tmp/corpus.txt
  /usr/bin/python3 tools/tokenizer_goldens/gen_sentencepiece.py --train /tmp/corpus.txt \
      tools/tokenizer_goldens/texts.json tests/data/tokenizer/xlmr
Without --train the committed model in the output folder is reused.
"""
import json
import os
import subprocess
import sys
import tempfile

import sentencepiece as spm

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def train(corpus, out_dir):
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "m")
        subprocess.run(["spm_train", "--input=" + corpus, "--model_prefix=" + prefix,
                        "--vocab_size=3000", "--model_type=unigram",
                        "--character_coverage=0.9995", "--num_threads=1",
                        "--shuffle_input_sentence=false", "--minloglevel=1"], check=True)
        os.makedirs(out_dir, exist_ok=True)
        with open(prefix + ".model", "rb") as src, \
                open(os.path.join(out_dir, "sentencepiece.bpe.model"), "wb") as dst:
            dst.write(src.read())


class XlmRoberta:
    def __init__(self, model_file):
        self.sp = spm.SentencePieceProcessor(model_file=model_file)
        self.ids = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
        self.ids["<mask>"] = len(self.sp) + 1

    def split_specials(self, text):
        """HF's Trie.split plus the <mask> lstrip handling of tokenize()."""
        parts = []
        pos = 0
        start = 0
        while pos < len(text):
            match = None
            for tok in sorted(SPECIALS, key=len, reverse=True):
                if text.startswith(tok, pos):
                    match = tok
                    break
            if match is None:
                pos += 1
                continue
            parts.append(text[start:pos])
            parts.append(match)
            pos += len(match)
            start = pos
        parts.append(text[start:])
        for i, p in enumerate(parts):
            if i % 2 == 1 and p == "<mask>" and i > 0:
                parts[i - 1] = parts[i - 1].rstrip()  # lstrip=True on <mask>
        return parts

    def tokenize(self, text):
        out = []
        for i, part in enumerate(self.split_specials(text)):
            if not part:
                continue
            if i % 2 == 1:
                out.append(self.ids[part])
                continue
            for piece in self.sp.encode(part, out_type=str):
                spm_id = self.sp.piece_to_id(piece)
                out.append(spm_id + 1 if spm_id else 3)
        return out


def truncate(len_a, len_b, budget, strategy):
    """HF tokenizers' truncate_encodings (stride 0); None where HF errors."""
    if budget == 0:
        return 0, 0
    total = len_a + len_b
    if total <= budget:
        return len_a, len_b
    to_remove = total - budget
    if strategy == "only_first":
        return (len_a - to_remove, len_b) if len_a > to_remove else None
    if strategy == "only_second":
        return (len_a, len_b - to_remove) if len_b > to_remove else None
    n1, n2 = len_a, len_b
    swap = n1 > n2
    if swap:
        n1, n2 = n2, n1
    n2 = n1 if n1 > budget else max(n1, budget - n1)
    if n1 + n2 > budget:
        n1 = budget // 2
        n2 = n1 + budget % 2
    if swap:
        n1, n2 = n2, n1
    return min(len_a, n1), min(len_b, n2)


def main():
    args = sys.argv[1:]
    if args and args[0] == "--train":
        corpus = args[1]
        args = args[2:]
    else:
        corpus = None
    texts_path, out_dir = args
    if corpus:
        train(corpus, out_dir)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        f.write(json.dumps({"model_type": "xlm-roberta"}) + "\n")
    inputs = json.load(open(texts_path, encoding="utf-8"))
    tok = XlmRoberta(os.path.join(out_dir, "sentencepiece.bpe.model"))
    texts = inputs["texts"]
    golden = {"texts": texts, "pair_inputs": inputs["pairs"], "tokenize": [], "encode": [],
              "pairs": []}
    for text in texts:
        golden["tokenize"].append({"ids": tok.tokenize(text)})
    for ml in inputs["single_max_lengths"]:
        for i, text in enumerate(texts):
            ids = [0] + tok.tokenize(text)[:max(ml - 2, 0)] + [2]
            golden["encode"].append({"text": i, "max_length": ml, "ids": ids,
                                     "type_ids": [0] * len(ids)})
    for strategy in inputs["strategies"]:
        for ml in inputs["pair_max_lengths"]:
            for i, (a, b) in enumerate(inputs["pairs"]):
                g = {"pair": i, "max_length": ml, "strategy": strategy}
                ta, tb = tok.tokenize(a), tok.tokenize(b)
                keep = truncate(len(ta), len(tb), max(ml - 4, 0), strategy)
                if keep is None:
                    g["hf_error"] = "Sequence to truncate too short to respect the provided max_length"
                else:
                    ids = [0] + ta[:keep[0]] + [2, 2] + tb[:keep[1]] + [2]
                    g["ids"] = ids
                    g["type_ids"] = [0] * len(ids)
                golden["pairs"].append(g)
    golden["description"] = "XLM-R layout over a unigram SentencePiece model trained by spm_train"
    golden["generator"] = "tools/tokenizer_goldens/gen_sentencepiece.py (python3-sentencepiece %s)" % spm.__version__
    golden["sp_vocab_size"] = len(tok.sp)
    with open(os.path.join(out_dir, "golden.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(golden, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
