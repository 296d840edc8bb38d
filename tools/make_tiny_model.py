#!/usr/bin/python3
"""Write a random BERT / XLM-RoBERTa model folder in Hugging Face's on-disk format.

The folder looks like one downloaded from the Hub: config.json, model.safetensors
(Hugging Face tensor names), tokenizer files and, for embedding models, the
sentence-transformers files (modules.json, 1_Pooling/config.json, ...).
Weights are random (fixed seed), so outputs mean nothing, but every tensor
influences the result, which is what tests of an inference engine need.

  /usr/bin/python3 tools/make_tiny_model.py --out /tmp/tiny-bert --preset tiny-bert
  /usr/bin/python3 tools/make_tiny_model.py --out /tmp/bge-small --preset bge-small \
      --vocab-corpus data/some_text_dir --dtype f16

Only NumPy (and python3-sentencepiece for XLM-R tokenizers) is needed.
"""
import argparse
import collections
import gzip
import html
import io
import json
import os
import re
import sys
import time
import unicodedata

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

TRANSFORMERS_VERSION = "4.41.2"

# name: (arch, task, vocab, layers, hidden, heads, ffn, max_pos, type_vocab, pooling, normalize,
#        max_seq_length)
PRESETS = {
    "tiny-bert": ("bert", "embed", 1000, 2, 32, 4, 64, 64, 2, "cls", 1, 64),
    "tiny-xlmr": ("xlmr", "embed", 1000, 2, 32, 4, 64, 66, 1, "mean", 1, 64),
    "tiny-bert-ce": ("bert", "cls", 1000, 2, 32, 4, 64, 64, 2, None, None, 64),
    "tiny-xlmr-ce": ("xlmr", "cls", 1000, 2, 32, 4, 64, 66, 1, None, None, 64),
    "bge-small": ("bert", "embed", 30522, 12, 384, 12, 1536, 512, 2, "cls", 1, 512),
    "minilm-l6": ("bert", "embed", 30522, 6, 384, 12, 1536, 512, 2, "mean", 1, 256),
    "bge-base": ("bert", "embed", 30522, 12, 768, 12, 3072, 512, 2, "cls", 1, 512),
    "ms-marco-minilm-l6": ("bert", "cls", 30522, 6, 384, 12, 1536, 512, 2, None, None, 512),
}

LICENSE_DIR = "/usr/share/common-licenses"

# A few hundred common English words, always given a high count for the built-in vocab.
COMMON_WORDS = """
the of and to a in is it you that he was for on are with as i his they be at one have this
from or had by not word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so
these her long make thing see him two has look more day could go come did number sound no
most people my over know water than call first who may down side been now find any new work
part take get place made live where after back little only round man year came show every
good me give our under name very through just form sentence great think say help low line
differ turn cause much mean before move right boy old too same tell does set three want air
well also play small end put home read hand port large spell add even land here must big
high such follow act why ask men change went light kind off need house picture try us again
animal point mother world near build self earth father head stand own page should country
found answer school grow study still learn plant cover food sun four between state keep eye
never last let thought city tree cross farm hard start might story saw far sea draw left
late run while press close night real life few north open seem together next white children
begin got walk example ease paper group always music those both mark often letter until mile
river car feet care second book carry took science eat room friend began idea fish mountain
stop once base hear horse cut sure watch color face wood main enough plain girl usual young
ready above ever red list though feel talk bird soon body dog family direct pose leave song
measure door product black short numeral class wind question happen complete ship area half
rock order fire south problem piece told knew pass since top whole king space heard best hour
better true during hundred five remember step early hold west ground interest reach fast verb
sing listen six table travel less morning ten simple several vowel toward war lay against
pattern slow center love person money serve appear road map rain rule govern pull cold
notice voice unit power town fine certain fly fall lead cry dark machine note wait plan
figure star box noun field rest correct able pound done beauty drive stood contain front
teach week final gave green oh quick develop ocean warm free minute strong special mind
behind clear tail produce fact street inch multiply nothing course stay wheel full force blue
object decide surface deep moon island foot system busy test record boat common gold
possible plane stead dry wonder laugh thousand ago ran check game shape equate hot miss
brought heat snow tire bring yes distant fill east paint language among search engine query
document database index vector retrieval model text data computer software license program
""".split()

WHOLE_WORD_MIN_FREQ = 4e-6

SUFFIXES = ["s", "ed", "ing", "er", "ers", "ly", "es", "ion", "tion", "al", "est", "ment", "ness",
            "able", "ity", "ive", "ize", "ful", "less", "ous", "ic", "en", "ate", "ist", "ism", "y"]


# ----------------------------------------------------------------------------- text
def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def bert_words(text):
    """BertNormalizer(lowercase, strip accents, clean text, CJK) + BertPreTokenizer."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD:
            continue
        if ch in "\t\n\r" or unicodedata.category(ch) == "Zs":
            out.append(" ")
        elif unicodedata.category(ch).startswith("C"):
            continue
        elif _is_cjk(cp):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFD", "".join(out).lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words = []
    for w in text.split():
        cur = []
        for ch in w:
            if _is_punct(ch):
                if cur:
                    words.append("".join(cur))
                    cur = []
                words.append(ch)
            else:
                cur.append(ch)
        if cur:
            words.append("".join(cur))
    return words


def wordpiece(word, vocab, unk="[UNK]", max_chars=100):
    if len(word) > max_chars:
        return [unk]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            sub = word[start:end] if start == 0 else "##" + word[start:end]
            if sub in vocab:
                break
            end -= 1
        if end == start:
            return [unk]
        pieces.append(sub)
        start = end
    return pieces


_TAG_BLOCK = re.compile(r"<(script|style)\b.*?</\1\s*>", re.S | re.I)
_TAG = re.compile(r"<[^>]*>")
_SKIP_EXT = (".js", ".css", ".map", ".svg", ".png", ".jpg", ".gif", ".ico", ".woff", ".woff2",
             ".ttf", ".zip", ".xz", ".bz2", ".pdf")


def read_corpus(paths, limit_bytes=300 << 20):
    """Yields text chunks from files / directories (HTML tags stripped crudely)."""
    seen, total = set(), 0
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs.sort()
                for n in sorted(names):
                    files.append(os.path.join(root, n))
        else:
            files.append(p)
    for f in files:
        real = os.path.realpath(f)
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        if real.lower().endswith(_SKIP_EXT):
            continue
        opener = gzip.open if real.endswith(".gz") else open
        try:
            with opener(real, "rb") as fh:
                data = fh.read(limit_bytes - total)
        except (OSError, EOFError):
            continue
        if b"\0" in data[:65536]:
            continue  # binary
        total += len(data)
        text = data.decode("utf-8", errors="replace")
        if "<" in text and ">" in text and re.search(r"<(html|body|p|div|a|br|span)\b", text, re.I):
            text = _TAG.sub(" ", _TAG_BLOCK.sub(" ", text))
            text = html.unescape(text)
        yield text
        if total >= limit_bytes:
            break


def default_corpus():
    return [os.path.join(LICENSE_DIR, n) for n in sorted(os.listdir(LICENSE_DIR))]


# ----------------------------------------------------------------------------- vocab
def bpe_pieces(words, budget, have):
    """Learns up to `budget` new pieces by merging the most frequent adjacent pair of symbols
    (characters, then pieces; non-initial ones written with ##) over `words` [(word, count)]."""
    import heapq
    syms = [[w[0]] + ["##" + ch for ch in w[1:]] for w, _ in words]
    cnt = [c for _, c in words]
    pair_count = collections.Counter()
    where = collections.defaultdict(set)
    for i, s in enumerate(syms):
        for a, b in zip(s, s[1:]):
            pair_count[(a, b)] += cnt[i]
            where[(a, b)].add(i)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    out = []
    while heap and len(out) < budget:
        negc, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -negc:
            continue  # stale entry
        if -negc < 2:
            break
        a, b = pair
        merged = a + b[2:]
        if merged not in have:
            out.append(merged)
        touched = set()
        for i in list(where[pair]):
            s = syms[i]
            for x, y in zip(s, s[1:]):
                pair_count[(x, y)] -= cnt[i]
                where[(x, y)].discard(i)
                touched.add((x, y))
            ns, k = [], 0
            while k < len(s):
                if k + 1 < len(s) and s[k] == a and s[k + 1] == b:
                    ns.append(merged)
                    k += 2
                else:
                    ns.append(s[k])
                    k += 1
            syms[i] = ns
            for x, y in zip(ns, ns[1:]):
                pair_count[(x, y)] += cnt[i]
                where[(x, y)].add(i)
                touched.add((x, y))
        for p in touched:
            c = pair_count.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            else:
                pair_count.pop(p, None)
                where.pop(p, None)
    return out


def build_wordpiece_vocab(size, corpus_paths, force_ascii):
    """Specials, characters and ## forms, then frequent whole words and ## pieces."""
    counts = collections.Counter()
    for text in read_corpus(corpus_paths):
        counts.update(bert_words(text))
    if force_ascii:  # built-in vocab: make common English words win
        for w in COMMON_WORDS:
            counts[w] += 1000
    if size >= 5000:  # bert-base-uncased layout: [PAD]=0 [UNK]=100 [CLS]=101 [SEP]=102 [MASK]=103
        vocab = ["[PAD]"] + ["[unused%d]" % i for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    else:
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    have = set(vocab)

    def add(tok):
        if tok not in have and len(vocab) < size:
            have.add(tok)
            vocab.append(tok)

    char_first, char_cont = collections.Counter(), collections.Counter()
    for w, c in counts.items():
        char_first[w[0]] += c
        for ch in w[1:]:
            char_cont[ch] += c
    if force_ascii:
        for cp in range(33, 127):
            ch = chr(cp).lower()
            char_first[ch] += 1
            if ch.isalnum():
                char_cont[ch] += 1
    max_chars = max(size // 8, 64)
    chars = sorted(c for c, _ in char_first.most_common(max_chars))
    for ch in chars:
        add(ch)
    for ch in sorted(c for c, _ in char_cont.most_common(max_chars)):
        add("##" + ch)
    if force_ascii:
        for s in SUFFIXES:
            add("##" + s)

    # Whole words: the most frequent ones, at most 80% of the room left, and only words frequent
    # enough that a vocabulary learned from a very large general corpus would keep them whole
    # (Zipf: the ~22,000th word of English has a relative frequency of about 4e-6). On a small
    # corpus this leaves rare words to be split into pieces, as a real BERT vocab would.
    room = size - len(vocab)
    word_budget = int(room * 0.8)
    min_count = max(2, int(np.ceil(WHOLE_WORD_MIN_FREQ * sum(counts.values()))))
    if force_ascii:
        min_count = 2
    words = [w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
             if len(w) > 1 and c >= min_count]
    for w in words[:word_budget]:
        add(w)
    # ## pieces: byte-pair merges (WordPiece-trainer style) over the words left out, up to 20%
    tail = [(w, c) for w, c in counts.most_common() if w not in have and len(w) > 1][:200000]
    for p in bpe_pieces(tail, min(room - word_budget, size - len(vocab)), have):
        add(p)
    for w in words[word_budget:]:
        add(w)
    # a small corpus does not fill a large vocab: the rest are never-matching placeholders
    i = 99
    while len(vocab) < size:
        add("[unused%d]" % i)
        i += 1
    return vocab, counts


def bert_tokenizer_json(vocab):
    ids = {t: i for i, t in enumerate(vocab)}
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    added = [{"id": ids[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for t in sorted(specials, key=ids.get)]

    def sp(t, type_id):
        return {"SpecialToken": {"id": t, "type_id": type_id}}

    def seq(s, type_id):
        return {"Sequence": {"id": s, "type_id": type_id}}

    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [sp("[CLS]", 0), seq("A", 0), sp("[SEP]", 0)],
            "pair": [sp("[CLS]", 0), seq("A", 0), sp("[SEP]", 0), seq("B", 1), sp("[SEP]", 1)],
            "special_tokens": {t: {"id": t, "ids": [ids[t]], "tokens": [t]}
                               for t in ("[CLS]", "[SEP]")},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids},
    }


def train_sentencepiece(size, corpus_paths, out_path, seed):
    import sentencepiece as spm
    lines = []
    for text in read_corpus(corpus_paths):
        for line in text.splitlines():
            line = " ".join(line.split())
            if line:
                lines.append(line)
    if hasattr(spm, "set_random_generator_seed"):
        spm.set_random_generator_seed(seed)
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buf, model_type="unigram",
        vocab_size=size, character_coverage=0.9995, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        normalization_rule_name="nmt_nfkc", hard_vocab_limit=False,
        input_sentence_size=2000000, shuffle_input_sentence=True, num_threads=1,
        minloglevel=2)
    data = buf.getvalue()
    with open(out_path, "wb") as f:
        f.write(data)
    sp = spm.SentencePieceProcessor(model_proto=data)
    return sp.get_piece_size()


# ----------------------------------------------------------------------------- weights
def make_weights(arch, task, V, L, H, F, P, T, seed):
    """Returns an ordered dict name -> float32 array, in Hugging Face names."""
    rng = np.random.default_rng(seed)
    t = {}

    def mat(shape, std):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(std)

    def lnw(n):
        return rng.uniform(0.9, 1.1, size=n).astype(np.float32)

    def bias(n):
        return mat((n,), 0.05)

    def linear(name, out_f, in_f):
        t[name + ".weight"] = mat((out_f, in_f), 1.0 / np.sqrt(in_f))
        t[name + ".bias"] = bias(out_f)

    def layernorm(name, n):
        t[name + ".weight"] = lnw(n)
        t[name + ".bias"] = bias(n)

    pre = "" if task == "embed" else ("bert." if arch == "bert" else "roberta.")
    t[pre + "embeddings.word_embeddings.weight"] = mat((V, H), 1.0)
    t[pre + "embeddings.position_embeddings.weight"] = mat((P, H), 0.3)
    t[pre + "embeddings.token_type_embeddings.weight"] = mat((T, H), 0.3)
    layernorm(pre + "embeddings.LayerNorm", H)
    for i in range(L):
        p = pre + "encoder.layer.%d." % i
        for n in ("query", "key", "value"):
            linear(p + "attention.self." + n, H, H)
        linear(p + "attention.output.dense", H, H)
        layernorm(p + "attention.output.LayerNorm", H)
        linear(p + "intermediate.dense", F, H)
        linear(p + "output.dense", H, F)
        layernorm(p + "output.LayerNorm", H)
    if task == "embed" or arch == "bert":
        linear(pre + "pooler.dense", H, H)
    if task == "cls":
        if arch == "bert":
            linear("classifier", 1, H)
        else:
            linear("classifier.dense", H, H)
            linear("classifier.out_proj", 1, H)
    return t


# ----------------------------------------------------------------------------- files
def write_json(path, obj, sort_keys=True):
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=sort_keys, ensure_ascii=False) + "\n")


def model_config(arch, task, V, L, H, heads, F, P, T, dtype, act):
    torch_dtype = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[dtype]
    cfg = {
        "attention_probs_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": act,
        "hidden_dropout_prob": 0.1,
        "hidden_size": H,
        "initializer_range": 0.02,
        "intermediate_size": F,
        "max_position_embeddings": P,
        "num_attention_heads": heads,
        "num_hidden_layers": L,
        "position_embedding_type": "absolute",
        "torch_dtype": torch_dtype,
        "transformers_version": TRANSFORMERS_VERSION,
        "type_vocab_size": T,
        "use_cache": True,
        "vocab_size": V,
    }
    if arch == "bert":
        cfg.update(model_type="bert", layer_norm_eps=1e-12, pad_token_id=0,
                   architectures=["BertModel" if task == "embed" else "BertForSequenceClassification"])
    else:
        cfg.update(model_type="xlm-roberta", layer_norm_eps=1e-05, pad_token_id=1, bos_token_id=0,
                   eos_token_id=2, output_past=True,
                   architectures=["XLMRobertaModel" if task == "embed"
                                  else "XLMRobertaForSequenceClassification"])
    if task == "cls":
        cfg["id2label"] = {"0": "LABEL_0"}
        cfg["label2id"] = {"LABEL_0": 0}
    return cfg


def write_sentence_transformers(out, H, pooling, normalize, max_seq):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
        os.makedirs(os.path.join(out, "2_Normalize"), exist_ok=True)
    write_json(os.path.join(out, "modules.json"), modules, sort_keys=False)
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    write_json(os.path.join(out, "1_Pooling", "config.json"), {
        "word_embedding_dimension": H,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": pooling == "lasttoken",
        "include_prompt": True,
    }, sort_keys=False)
    write_json(os.path.join(out, "sentence_bert_config.json"),
               {"max_seq_length": max_seq, "do_lower_case": False}, sort_keys=False)
    write_json(os.path.join(out, "config_sentence_transformers.json"), {
        "__version__": {"sentence_transformers": "3.0.1", "transformers": TRANSFORMERS_VERSION,
                        "pytorch": "2.3.0"},
        "prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine",
    }, sort_keys=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--preset", required=True, choices=sorted(PRESETS))
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16", "bf16"])
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--pooling", choices=["cls", "mean", "lasttoken"],
                    help="embedding presets: override the preset's pooling")
    ap.add_argument("--normalize", type=int, choices=[0, 1],
                    help="embedding presets: 1 adds the Normalize module")
    ap.add_argument("--hidden-act", default="gelu",
                    choices=["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"])
    ap.add_argument("--vocab-corpus", nargs="+", metavar="PATH",
                    help="text/HTML files or folders to build the vocabulary from")
    ap.add_argument("--vocab-size", type=int,
                    help="WordPiece vocab entries / SentencePiece pieces (default: the preset's)")
    args = ap.parse_args(argv)

    t0 = time.time()
    arch, task, V, L, H, heads, F, P, T, pooling, normalize, max_seq = PRESETS[args.preset]
    if args.vocab_size:
        V = args.vocab_size
    if task == "embed":
        pooling = args.pooling or pooling
        normalize = normalize if args.normalize is None else args.normalize
    elif args.pooling or args.normalize is not None:
        print("note: --pooling/--normalize ignored for a classifier preset", file=sys.stderr)
    out = args.out
    os.makedirs(out, exist_ok=True)
    corpus = args.vocab_corpus or default_corpus()
    max_len = P - 2 if arch == "xlmr" else P  # tokenizer model_max_length

    # --- tokenizer
    if arch == "bert":
        vocab, _ = build_wordpiece_vocab(V, corpus, force_ascii=not args.vocab_corpus)
        with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(vocab) + "\n")
        write_json(os.path.join(out, "tokenizer.json"), bert_tokenizer_json(vocab),
                   sort_keys=False)
        write_json(os.path.join(out, "tokenizer_config.json"), {
            "clean_up_tokenization_spaces": True, "cls_token": "[CLS]", "do_basic_tokenize": True,
            "do_lower_case": True, "mask_token": "[MASK]", "model_max_length": max_len,
            "never_split": None, "pad_token": "[PAD]", "sep_token": "[SEP]", "strip_accents": None,
            "tokenize_chinese_chars": True, "tokenizer_class": "BertTokenizer", "unk_token": "[UNK]"})
        write_json(os.path.join(out, "special_tokens_map.json"), {
            "cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]", "sep_token": "[SEP]",
            "unk_token": "[UNK]"})
        model_vocab = len(vocab)
    else:
        n = train_sentencepiece(V, corpus, os.path.join(out, "sentencepiece.bpe.model"), args.seed)
        model_vocab = n + 2  # fairseq: 4 specials, spm ids shifted by one, <mask> last
        mask = {"content": "<mask>", "lstrip": True, "normalized": True, "rstrip": False,
                "single_word": False}
        write_json(os.path.join(out, "tokenizer_config.json"), {
            "bos_token": "<s>", "clean_up_tokenization_spaces": True, "cls_token": "<s>",
            "eos_token": "</s>", "mask_token": dict(mask, __type="AddedToken"),
            "model_max_length": max_len, "pad_token": "<pad>", "sep_token": "</s>",
            "sp_model_kwargs": {}, "tokenizer_class": "XLMRobertaTokenizer", "unk_token": "<unk>"})
        write_json(os.path.join(out, "special_tokens_map.json"), {
            "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "mask_token": mask,
            "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>"})

    # --- config and weights
    write_json(os.path.join(out, "config.json"),
               model_config(arch, task, model_vocab, L, H, heads, F, P, T, args.dtype, args.hidden_act))
    weights = make_weights(arch, task, model_vocab, L, H, F, P, T, args.seed)
    safetensors_io.write(os.path.join(out, "model.safetensors"), weights,
                         dtype={"f32": "F32", "f16": "F16", "bf16": "BF16"}[args.dtype],
                         metadata={"format": "pt"})
    if task == "embed":
        write_sentence_transformers(out, H, pooling, normalize, min(max_seq, max_len))
    print("wrote %s (%s, vocab %d, %d tensors, %.1f M params, %s) in %.1f s" % (
        out, args.preset, model_vocab, len(weights), sum(a.size for a in weights.values()) / 1e6,
        args.dtype, time.time() - t0))


if __name__ == "__main__":
    main()
