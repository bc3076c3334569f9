"""Applicants' names folded for search: one spelling for Cyrillic, Kazakh and Latin writings.

An applicant is filed as "Каримов Рустам" by one channel and "KARIMOV Rustam" or "Karimov
Rustam" by another; an officer types "karimov". `fold` reduces every writing to the same
lowercase ASCII letters:

- case is dropped (casefold);
- Kazakh letters become their nearest Russian/Latin sounds (ә a, ғ g, қ k, ң n, ө o, ұ u, ү u,
  һ h, і i);
- Cyrillic is transliterated to Latin (the passport habit: ж zh, х kh, ц ts, ч ch, ш sh, щ shch,
  ю yu, я ya, й y, ы y; ъ and ь vanish);
- Latin letters lose their diacritics (Ö o, ş sh, ç ch, ğ g, ı i: the Turkic Latin alphabets);
- spellings that vary between transliterations meet: kh and h, zh and j, q and k, w and v, and
  y after a vowel and i (Kayrat, Kairat).

`tokens` splits a folded name into its words, so a surname or a given name alone finds the
case, and a beginning of a word ("kari") too (the search is by prefix of a token).
"""
from __future__ import annotations

import re
import unicodedata

TOKEN_LENGTH = 40  # the column's width; longer words are cut (a prefix search still finds them)

_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
    # Kazakh letters
    "ә": "a", "ғ": "g", "қ": "k", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h", "і": "i",
    # Ukrainian and Belarusian letters met in applicants' names
    "є": "e", "ї": "i", "ў": "u", "ґ": "g",
}
# Latin letters whose diacritic carries a sound (not dropped by decomposition alone)
_LATIN = {"ş": "sh", "ç": "ch", "ı": "i", "ß": "ss", "æ": "ae", "ø": "o", "đ": "d", "ł": "l"}
# Spellings that differ between transliteration habits, made one
_VARIANTS = (("kh", "h"), ("zh", "j"), ("q", "k"), ("w", "v"))
# й is "y" in Russian transliteration and "i" in passports (Кайрат: Kayrat, Kairat): a y after a
# vowel and not before one is written i
_Y_AFTER_VOWEL = re.compile(r"(?<=[aeiou])y(?![aeiou])")
_WORD = re.compile(r"[a-z0-9]+")


def fold(text: str | None) -> str:
    """The searchable spelling of a name: lowercase ASCII letters, digits and spaces."""
    if not text:
        return ""
    out = []
    for char in unicodedata.normalize("NFC", text).casefold():
        if char in _CYRILLIC:
            out.append(_CYRILLIC[char])
        elif char in _LATIN:
            out.append(_LATIN[char])
        else:
            plain = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            out.append(plain if plain.isascii() and plain.isalnum() else " ")
    folded = "".join(out)
    for variant, common in _VARIANTS:
        folded = folded.replace(variant, common)
    folded = _Y_AFTER_VOWEL.sub("i", folded)
    return " ".join(_WORD.findall(folded))


def tokens(text: str | None) -> list[str]:
    """The distinct words of a folded name, in order, each at most TOKEN_LENGTH letters."""
    seen: list[str] = []
    for word in fold(text).split():
        word = word[:TOKEN_LENGTH]
        if word not in seen:
            seen.append(word)
    return seen


def prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """(low, high) such that low <= token < high holds exactly for the tokens starting with
    `prefix` (high None: no upper bound). Tokens are lowercase ASCII letters and digits, which
    every collation orders as bytes do (digits before letters), so the range is answered by an
    ordinary index on SQLite and PostgreSQL alike, whatever the database's collation."""
    stem = prefix
    while stem:
        last = stem[-1]
        if last == "9":
            return prefix, stem[:-1] + "a"
        if last != "z":
            return prefix, stem[:-1] + chr(ord(last) + 1)
        stem = stem[:-1]
    return prefix, None
