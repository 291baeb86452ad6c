"""The handheld's catalogues: complete, in step with the code, and used for each person's language."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from app.i18n import DOMAIN, LANGUAGES, LOCALE_DIR, catalogue_path, translation
from app.models.common import Session
from app.models.home import SignInModel
from app.models.receive import ReceiveModel
from app.models.unit_steps import UnitFlow
from domain import labels
from tests.conftest import ASSOCIATE

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [language for language in LANGUAGES if catalogue_path(language).exists()]


def template():
    with (LOCALE_DIR / f"{DOMAIN}.pot").open("rb") as pot:
        return read_po(pot)


def catalogue(language: str):
    with catalogue_path(language).open("rb") as po:
        return read_po(po, locale=language)


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_language_but_english_has_a_catalogue_that_loads():
    assert TRANSLATED == [language for language in LANGUAGES if language != "en"]
    assert translation("es").gettext("Sign in") == "Iniciar sesión"
    assert translation("en").gettext("Sign in") == "Sign in"


def test_the_template_holds_every_word_the_code_marks():
    """A word wrapped in _(), ngettext() or N_() but not extracted yet (run `make messages`) fails here."""
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    marked = {found[2] for folder in ("app", "domain", "local_db", "scanner")
              for found in extract_from_dir(ROOT / folder, keywords=keywords)}
    marked = {message[0] if isinstance(message, tuple) else message for message in marked}
    assert marked - {message.id if isinstance(message.id, str) else message.id[0] for message in template()} == set()


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_word_of_the_template_is_translated(language):
    wanted = {message.id for message in template() if message.id}
    translated = catalogue(language)
    assert wanted - {message.id for message in translated if message.id} == set(), "run `make messages`"
    untranslated = [message.id for message in translated
                    if message.id and not all(message.string if isinstance(message.string, tuple) else [message.string])]
    assert untranslated == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_each_translation_has_the_placeholders_of_its_words(language):
    wrong = []
    for message in catalogue(language):
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set().union(*map(fields, ids))
        wrong += [(ids[0], words) for words in strings if fields(words) != expected]
    assert wrong == []


def test_a_spanish_speaker_reads_prompts_answers_and_refusals_in_spanish(store):
    session = Session(store, ASSOCIATE, language="es")
    receive = ReceiveModel(session)
    assert receive.prompt == "Escanee la RMA o la etiqueta del paquete"
    unknown = receive.submit(labels.rma_id(9_999_999))
    assert not unknown.ok and unknown.message.endswith("no está en este dispositivo: sincronice o recíbala como "
                                                       "devolución sin RMA")
    flow = UnitFlow(session)
    assert flow.open(labels.lpn(424_242)).message == f"unidad desconocida: {labels.lpn(424_242)}"
    wrong_digit = labels.lpn(1)[:-1] + str((int(labels.lpn(1)[-1]) + 1) % 10)
    assert flow.scan(wrong_digit).message.startswith("dígito de control incorrecto en ")
    english = UnitFlow(Session(store, ASSOCIATE))
    assert english.open(labels.lpn(424_242)).message == f"unknown unit: {labels.lpn(424_242)}"


def test_the_language_chosen_at_sign_in_is_remembered_for_that_person(store):
    model = SignInModel(store)
    feedback, session = model.sign_in("alex", "2468", "es", chosen=True)
    assert (feedback.message, session.language) == ("sesión iniciada como alex", "es")
    feedback, session = model.sign_in("alex", "2468", "en")  # the screen in English, nothing tapped
    assert (feedback.message, session.language) == ("sesión iniciada como alex", "es")
    assert model.language_of("sam") is None
    refused, _ = model.sign_in("sam", "0000", "es")
    assert refused.message == "usuario o PIN incorrecto: intente de nuevo"
