#!/usr/bin/python3
"""Writes texts.json: the inputs every golden file is computed from.

Run: /usr/bin/python3 texts.py > texts.json
"""
import json

LONG_WORD = "pneumonoultramicroscopicsilicovolcanoconiosis" * 3  # 135 chars
EXACTLY_100 = "a" * 100
EXACTLY_101 = "b" * 101

TEXTS = [
    # English prose
    "The quick brown fox jumps over the lazy dog.",
    "This program is free software: you can redistribute it and/or modify it under the terms of the GNU General Public License.",
    "Hello, world! How are you doing today?",
    "It's a well-known fact that tokenization isn't trivial; e.g. don't, won't, can't.",
    "UPPER CASE WORDS and MiXeD CaSe Words",
    "Redistribution and use in source and binary forms, with or without modification, are permitted provided that the following conditions are met.",
    "unbelievably unrecognizable internationalization counterproductive",
    # code, URLs, numbers, punctuation runs
    "def foo(x): return x**2 + 3*x - 1  # comment",
    "int main() { std::vector<int> v{1, 2, 3}; return v[0]; }",
    "https://www.example.com/path/to/page?query=1&lang=en#section",
    "user.name+tag@example.org",
    "3.14159 2,718 1e-10 -42 +7 100% $19.99 €5 ¥100",
    "2024-01-15T10:30:00Z 127.0.0.1:8080",
    "!!!??? ... --- *** ### @@@ $$$ %%% ^^^ &&& ((())) [[]] {{}}",
    "\"quoted\" 'single' `backtick` «guillemets» „German“ “curly” ‘single curly’",
    "a/b\\c|d~e_f=g<h>i",
    "snake_case_identifier camelCaseIdentifier kebab-case-identifier",
    # accents
    "café naïve Ångström résumé coöperate façade jalapeño",
    "CAFÉ NAÏVE ÅNGSTRÖM",
    "Crème brûlée à la carte, déjà vu.",
    "e\u0301 combining acute vs \u00e9 precomposed",
    # German, French
    "Die Straße ist sehr schön und die Bäume sind grün. Übermäßig große Äpfel.",
    "Le cœur a ses raisons que la raison ne connaît point. Où est l'hôtel?",
    # Russian, Greek
    "Привет, мир! Как дела? Москва — столица России.",
    "ПРОГРАММА свободное программное обеспечение",
    "Καλημέρα κόσμε! Η γλώσσα είναι ελληνική. ΑΘΗΝΑ",
    # Chinese, Japanese, Korean
    "中文分词测试，这是一个句子。",
    "我爱北京天安门",
    "日本語のテキストです。東京は大きい都市です。",
    "カタカナとひらがなと漢字",
    "한국어 텍스트입니다. 서울은 큰 도시입니다.",
    "mixed English 中文 and 日本語 text",
    # Arabic, Hebrew, Hindi, Thai
    "مرحبا بالعالم! هذه جملة عربية.",
    "שלום עולם",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    # emoji
    "I love pizza 🍕😀👍 so much!!! 🎉🎉",
    "family 👨‍👩‍👧‍👦 flag 🇫🇷 heart ❤️ skin 👍🏽",
    "emoji😀glued😀together",
    # control chars, whitespace
    "tab\tseparated\tvalues\nnew line\r\nwindows",
    "control\x00chars\x01here\x07and\x1bthere\x7f",
    "vertical\x0btab and form\x0cfeed and \x85next line",
    "nbsp\u00a0here en\u2002space em\u2003space thin\u2009space ideographic\u3000space",
    "zero\u200bwidth\u200cnon\u200djoiner \ufeffbom soft\u00adhyphen",
    "line\u2028separator paragraph\u2029separator narrow\u202fnbsp",
    "replacement \ufffd char and private \ue000 use",
    "   leading and trailing spaces   ",
    # long words
    LONG_WORD,
    "short " + EXACTLY_100 + " " + EXACTLY_101 + " end",
    "x" * 99 + "é",
    # special tokens typed in text
    "[MASK] is a mask token",
    "The capital of France is [MASK].",
    "[CLS] already here [SEP] and [SEP]",
    "[mask] lower case is not special [Mask]",
    "[UNK][PAD][MASK]glued[SEP]",
    "<s> xlm special </s> <mask> <unk> <pad> tokens",
    "fill <mask>here and there<mask>",
    # edge cases
    "",
    " ",
    "\t\n\r ",
    "\u3000\u00a0",
    "a",
    "A",
    "##",
    "##ing",
    "...",
    "\u0130stanbul İZMİR ı",
    "ﬁne ligature ＦＵＬＬ ｗｉｄｔｈ ①②③",
    "Ⅻ ½ x² H₂O",
    "𠀀𠀁 rare CJK extension B and 𝐛𝐨𝐥𝐝 math",
    "ǅ Titlecase ǈ letters",
    # characters where HF's (pre-Unicode 9) categories differ from utf8proc's
    "new\u08d4mark old\u0301mark x\u2e43y x\u166dy cf\u0890cf x\u1734y",
    "ΣΊΣΥΦΟΣ final sigma",
]

# Extra texts for the tokenizer with custom added tokens (lstrip/rstrip,
# single_word, normalized).
ADDED_TOKEN_TEXTS = [
    "an <ent> entity",
    "an <ENT> entity upper",
    "glued<ent>tokens",
    "left [RS]   right",
    "  [RS]  ",
    "a [RS][RS] b",
    "xyzzy alone",
    "axyzzy glued",
    "xyzzy_ underscore",
    "(xyzzy) punct",
    "xyzzyxyzzy",
    "mot:xyzzy.",
]

SHORT_PAIRS = [
    ("What is the capital of France?", "Paris is the capital and most populous city of France."),
    ("how many people live in berlin", "Berlin has a population of about 3.7 million registered inhabitants."),
    ("query", "a much longer passage that goes on and on with many many words in it"),
    ("a much longer question that goes on and on with many many words in it", "short"),
    ("equal length one", "equal length two"),
    ("", "only the second sequence has text"),
    ("only the first sequence has text", ""),
    ("", ""),
    ("Привет мир", "中文分词测试"),
    ("café [MASK] naïve", "😀 emoji 👍 pair"),
    ("one two three four five six seven", "eight nine ten"),
    ("alpha beta gamma delta epsilon zeta eta theta", "iota kappa lambda mu nu xi omicron pi rho"),
]

PAIR_MAX_LENGTHS = [4, 5, 6, 7, 8, 9, 12, 16, 24, 64]
SINGLE_MAX_LENGTHS = [2, 3, 8, 512]
STRATEGIES = ["longest_first", "only_first", "only_second"]


def main():
    print(json.dumps({
        "texts": TEXTS,
        "added_token_texts": ADDED_TOKEN_TEXTS,
        "pairs": [list(p) for p in SHORT_PAIRS],
        "pair_max_lengths": PAIR_MAX_LENGTHS,
        "single_max_lengths": SINGLE_MAX_LENGTHS,
        "strategies": STRATEGIES,
    }, ensure_ascii=True, indent=1))


if __name__ == "__main__":
    main()
