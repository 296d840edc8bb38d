#!/usr/bin/python3
"""Builds a small multilingual text corpus from files Debian ships on every
machine: the license texts in /usr/share/common-licenses (English) and the
native month/day/language names in the glibc locale sources
/usr/share/i18n/locales (written there as <Uxxxx> escapes).

Run: /usr/bin/python3 corpus.py > /tmp/corpus.txt
"""
import os
import re
import sys

LICENSES = "/usr/share/common-licenses"
LOCALES = "/usr/share/i18n/locales"
LOCALE_NAMES = ["de_DE", "fr_FR", "es_ES", "ru_RU", "uk_UA", "el_GR", "zh_CN", "zh_TW",
                "ja_JP", "ko_KR", "ar_SA", "he_IL", "hi_IN", "th_TH", "tr_TR", "pl_PL",
                "sv_SE", "it_IT", "pt_BR", "vi_VN"]


def locale_strings(name):
    path = os.path.join(LOCALES, name)
    if not os.path.exists(path):
        return []
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            for quoted in re.findall(r'"([^"]*)"', line):
                text = re.sub(r"<U([0-9A-Fa-f]{4,6})>", lambda m: chr(int(m.group(1), 16)), quoted)
                text = text.replace("%", " ").strip()
                if text and any(c.isalpha() for c in text):
                    out.append(text)
    return out


def main():
    lines = []
    for name in sorted(os.listdir(LICENSES)):
        path = os.path.join(LICENSES, name)
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                lines.extend(l.rstrip("\n") for l in f if l.strip())
    for name in LOCALE_NAMES:
        strings = locale_strings(name)
        # One line per 8 strings, repeated so the pieces get some weight.
        for _ in range(3):
            for i in range(0, len(strings), 8):
                lines.append(" ".join(strings[i:i + 8]))
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
