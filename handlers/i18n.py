"""Translations outside a web request: documents and notifications in a language chosen per call.

The catalogues live in `translations/<lang>/LC_MESSAGES/messages.po` (compiled to .mo by the
Makefile's set-up); the web layer reads the same catalogues through Flask-Babel. English is the
source language and the fallback for any message a catalogue lacks.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"
LANGUAGES = ("kk", "ru", "en")


def N_(message: str) -> str:
    """Marks a message for extraction; translated later, where the language is known."""
    return message


@lru_cache(maxsize=8)
def translations(language: str) -> NullTranslations:
    if language not in LANGUAGES or language == "en":
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [language], domain="messages")


def gettext_for(language: str):
    """A `gettext(message, **params)` for one language: params fill `%(name)s` placeholders."""
    catalogue = translations(language)

    def gettext(message: str, **params) -> str:
        text = catalogue.ugettext(message) if hasattr(catalogue, "ugettext") else catalogue.gettext(message)
        return text % params if params else text

    return gettext


def ngettext_for(language: str):
    catalogue = translations(language)

    def ngettext(singular: str, plural: str, num: int, **params) -> str:
        text = catalogue.ngettext(singular, plural, num)
        return text % dict(params, num=num)

    return ngettext


# Where Kazakhstan's official usage names a country otherwise than CLDR does.
COUNTRY_NAMES = {"ru": {"KG": "Кыргызстан"}}


def country_name(code: str | None, language: str) -> str:
    """A country's name from the CLDR data Babel ships ("TJ" -> "Таджикистан" in Russian)."""
    if not code:
        return ""
    code = str(code).upper()
    official = COUNTRY_NAMES.get(language, {}).get(code)
    return official or Locale.parse(language).territories.get(code, code)


def supported(language: str | None, default: str = "ru") -> str:
    return language if language in LANGUAGES else default
