#!/usr/bin/python3
"""Builds a small BERT-style WordPiece vocab.txt (a few thousand entries):
special tokens, every printable ASCII character and its ## form, frequent
words of the corpus (corpus.py), common English subwords, accented Latin,
Cyrillic, Greek, Arabic, Hebrew, kana, CJK, Hangul (syllables and the
conjoining jamo NFD produces) and a few emoji.

Run: /usr/bin/python3 make_vocab.py /tmp/corpus.txt > vocab.txt
"""
import collections
import re
import sys
import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
SUFFIXES = ["s", "es", "ed", "ing", "ly", "er", "ers", "est", "tion", "tions", "ment", "ments",
            "ness", "able", "ible", "al", "ic", "ity", "ize", "ized", "ous", "ive", "ful",
            "less", "en", "ist", "ism", "ify", "ship", "ward", "wise", "age", "ance", "ence",
            "ant", "ent", "ary", "ery", "ory", "ure", "ate", "ated", "ating", "ation", "ations",
            "ional", "ization", "izations", "able", "ably", "iz", "oc", "con", "ios", "is",
            "na", "ve", "ve", "ion", "##"]
PREFIXES = ["un", "re", "in", "im", "dis", "en", "non", "over", "mis", "sub", "pre", "inter",
            "fore", "de", "trans", "super", "semi", "anti", "mid", "under", "counter", "pro",
            "con", "com", "micro", "ultra", "pneumono", "volcano", "silico", "scopic"]
EXTRA_WORDS = ["café", "naïve", "résumé", "façade", "jalapeño", "ångström", "über", "straße",
               "schön", "grün", "bäume", "äpfel", "cœur", "hôtel", "où", "connaît", "crème",
               "brûlée", "déjà", "à", "é", "è", "ê", "ë", "ï", "î", "ô", "ö", "ü", "û", "ù", "ç",
               "ñ", "å", "ø", "æ", "ß", "œ", "Café", "Ångström", "Über", "Straße",
               "hello", "world", "quick", "brown", "fox", "jumps", "lazy", "dog", "today",
               "pizza", "love", "emoji", "token", "tokens", "mask", "tokenization", "trivial",
               "python", "def", "return", "int", "main", "std", "vector", "www", "example",
               "com", "org", "http", "https", "query", "lang", "section", "page", "path",
               "user", "name", "tag", "snake", "case", "camel", "kebab", "identifier",
               "capital", "france", "paris", "berlin", "population", "million", "people",
               "Paris", "France", "Berlin", "The", "This", "Hello", "What", "How", "It", "I",
               "UPPER", "CASE", "WORDS", "Words", "MiXeD", "CaSe", "mixed", "english", "text",
               "English", "alpha", "beta", "gamma", "delta", "one", "two", "three", "four",
               "five", "six", "seven", "eight", "nine", "ten", "short", "equal", "length",
               "sequence", "first", "second", "only", "much", "longer", "question", "passage",
               "lower", "upper", "special", "glued", "together", "family", "flag", "heart",
               "skin", "control", "chars", "here", "there", "tab", "separated", "values", "new",
               "line", "windows", "nbsp", "space", "thin", "width", "zero", "bom", "soft",
               "hyphen", "separator", "paragraph", "narrow", "replacement", "char", "private",
               "use", "leading", "trailing", "spaces", "end", "fine", "ligature", "full",
               "rare", "math", "bold", "titlecase", "letters", "final", "sigma", "istanbul",
               "izmir", "xlm", "fill", "ent", "entity", "left", "right", "alone", "punct",
               "underscore", "mot", "xyzzy", "привет", "мир", "как", "дела", "москва",
               "столица", "россии", "Привет", "Москва", "программа", "свободное",
               "программное", "обеспечение", "καλημέρα", "κόσμε", "καλημερα", "κοσμε", "η",
               "γλώσσα", "γλωσσα", "είναι", "ειναι", "ελληνική", "ελληνικη", "αθηνα", "Αθηνα",
               "ΑΘΗΝΑ", "mdash", "mundo", "hola", "مرحبا", "بالعالم", "هذه", "جملة", "عربية",
               "שלום", "עולם", "😀", "👍", "🍕", "🎉", "❤", "🇫", "🇷", "ça", "va"]
CJK = ("的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着"
       "事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定"
       "见只主没公从文词分测试句北京天安门本語東京都市大漢字韓國")
EMOJI = ["😀", "👍", "🍕", "🎉", "❤", "🔥", "🙂", "🏽", "👨", "👩", "👧", "👦", "\u200d", "️"]


def chars_in(first, last):
    return [chr(c) for c in range(first, last + 1) if unicodedata.category(chr(c))[0] in "LNS"]


def main():
    corpus = open(sys.argv[1], encoding="utf-8").read()
    vocab = []
    seen = set()

    def add(token):
        if token and token not in seen and not any(c.isspace() for c in token):
            seen.add(token)
            vocab.append(token)

    for t in SPECIALS:
        add(t)
    for i in range(10):
        add("[unused%d]" % i)
    ascii_chars = [chr(c) for c in range(33, 127)]
    singles = (ascii_chars + chars_in(0xC0, 0xFF) + chars_in(0x391, 0x3C9) +
               chars_in(0x410, 0x44F) + ["ё", "Ё", "є", "і", "ї"] + chars_in(0x5D0, 0x5EA) +
               chars_in(0x621, 0x64A) + chars_in(0x3041, 0x3096) + chars_in(0x30A1, 0x30FA) +
               ["ー", "。", "、", "，", "「", "」"] + chars_in(0x1100, 0x1112) +
               chars_in(0x1161, 0x1175) + chars_in(0x11A8, 0x11C2) + chars_in(0x905, 0x939) +
               chars_in(0xE01, 0xE2E) + list(CJK) + EMOJI)
    for c in singles:
        add(c)
    for c in singles:
        add("##" + c)
    # Frequent corpus words, lower-cased and as written.
    words = re.findall(r"\w+", corpus)
    counts = collections.Counter(w.lower() for w in words if not w.isdigit())
    for w, n in counts.most_common(1800):
        if n >= 2 and len(w) > 1:
            add(w)
    for w, n in collections.Counter(w for w in words if w[:1].isupper()).most_common(200):
        if n >= 3:
            add(w)
    for w in EXTRA_WORDS:
        add(w)
    for s in SUFFIXES:
        add("##" + s)
    for p in PREFIXES:
        add(p)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for a in letters:
        for b in letters:
            add("##" + a + b)
    for n in ["0", "1", "10", "100", "12", "2024", "127", "8080", "3", "14", "159", "42", "99"]:
        add(n)
        add("##" + n)
    # Hangul syllables of the test texts (kept whole when accents are not stripped).
    for c in "한국어텍스트입니다서울은큰도시":
        add(c)
        add("##" + c)
    sys.stdout.write("\n".join(vocab) + "\n")


if __name__ == "__main__":
    main()
