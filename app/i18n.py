"""The handheld's words in each person's language: gettext catalogues, compiled when first used.

English is the language the code is written in (its words are the catalogue's msgids), so it needs
no catalogue. Every other language has a `.po` file under app/locale, read and compiled in memory
the first time someone signs in with it: a fresh clone runs without a build step, and no compiled
`.mo` file is kept in the repository. `make messages` extracts new words and updates the catalogues.

Words are looked up when a screen is drawn or an answer is made, in the language of the person at
the handheld: `translation(language).gettext(...)`, which the session and the handheld offer as `_`.
"""

from __future__ import annotations

import functools
import gettext
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

DOMAIN = "returnflow"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
# Each language as its own speakers name it: the sign-in screen's buttons.
LANGUAGES = {"en": "English", "es": "Español"}
DEFAULT_LANGUAGE = "en"


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translation(language: str) -> gettext.NullTranslations:
    """The words of `language`; a language with no catalogue (English) keeps the code's words."""
    if language == DEFAULT_LANGUAGE or language not in LANGUAGES:
        return gettext.NullTranslations()
    with catalogue_path(language).open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


def language_key(user_id: str) -> str:
    """Where the device store keeps a person's language (its meta table)."""
    return f"language:{user_id}"
