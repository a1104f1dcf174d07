"""Texter commands, answers and menu words, in every supported language.

Every word here is compared after `routing.text.phrase`, so write them with or
without accents: they are folded the same way as what the texter typed. All
languages are accepted whatever the texter's language is: someone who writes
"STOP" in a Polish conversation means stop.

Words not written by a native speaker need review (see the message templates).
"""

from __future__ import annotations

from typing import Literal, TypeVar

from routing.text import phrase, single_line

Command = Literal[
    "stop", "erase", "privacy", "menu", "language", "help", "hours", "withdraw", "signal",
    "alerts",
]
Answer = Literal["yes", "no"]
MenuChoice = Literal["peer", "social_work", "sexual_health", "emergency"]

COMMAND_WORDS: dict[Command, dict[str, tuple[str, ...]]] = {
    "stop": {
        "nl": ("stop", "stoppen"),
        "en": ("stop", "unsubscribe"),
        "es": ("stop", "parar", "alto"),
        "ro": ("stop", "opreste"),
        "bg": ("стоп", "спри"),
        "pl": ("stop", "zatrzymaj"),
    },
    "erase": {
        "nl": ("wis", "vergeet mij", "verwijder", "verwijder mij"),
        "en": ("delete", "forget me", "erase", "delete me"),
        "es": ("borrar", "olvidame", "eliminar", "borrame"),
        "ro": ("sterge", "uita ma", "sterge ma"),
        "bg": ("изтрий", "забрави ме", "изтрий ме"),
        "pl": ("usun", "zapomnij mnie", "usun mnie"),
    },
    "privacy": {
        "nl": ("privacy",),
        "en": ("privacy",),
        "es": ("privacidad",),
        "ro": ("confidentialitate",),
        "bg": ("поверителност",),
        "pl": ("prywatnosc",),
    },
    "menu": {
        "nl": ("menu",),
        "en": ("menu",),
        "es": ("menu",),
        "ro": ("meniu",),
        "bg": ("меню",),
        "pl": ("menu",),
    },
    "language": {
        "nl": ("taal",),
        "en": ("language",),
        "es": ("idioma",),
        "ro": ("limba",),
        "bg": ("език",),
        "pl": ("jezyk",),
    },
    "help": {
        "nl": ("hulp",),
        "en": ("help",),
        "es": ("ayuda",),
        "ro": ("ajutor",),
        "bg": ("помощ",),
        "pl": ("pomoc",),
    },
    "hours": {
        "nl": ("uren", "openingstijden", "tijden"),
        "en": ("hours", "opening hours"),
        "es": ("horario", "horarios"),
        "ro": ("program", "orar"),
        "bg": ("работно време", "часове"),
        "pl": ("godziny",),
    },
    "withdraw": {
        "nl": ("intrekken", "trek in"),
        "en": ("withdraw",),
        "es": ("retirar",),
        "ro": ("retrage",),
        "bg": ("оттегли",),
        "pl": ("wycofaj",),
    },
    # Move to Signal (routing.switch); the app's name in every language.
    "signal": {code: ("signal",) for code in ("nl", "en", "es", "ro", "bg", "pl")},
    # Safety alerts on and off (routing.alerts): the same word stops them.
    "alerts": {
        "nl": ("meldingen",),
        "en": ("alerts",),
        "es": ("alertas",),
        "ro": ("alerte",),
        "bg": ("сигнали",),
        "pl": ("alerty",),
    },
}

# Only an explicit yes counts as consent: no "ok", no thumbs-up, no "maybe".
ANSWER_WORDS: dict[Answer, dict[str, tuple[str, ...]]] = {
    "yes": {
        "nl": ("ja",),
        "en": ("yes",),
        "es": ("si",),
        "ro": ("da",),
        "bg": ("да",),
        "pl": ("tak",),
    },
    "no": {
        "nl": ("nee",),
        "en": ("no",),
        "es": ("no",),
        "ro": ("nu",),
        "bg": ("не",),
        "pl": ("nie",),
    },
}

# Typed menu words, besides the numbers and the partner ids and names.
MENU_WORDS: dict[MenuChoice, dict[str, tuple[str, ...]]] = {
    "peer": {
        "nl": ("peer", "collega"),
        "en": ("peer",),
        "es": ("companera",),
        "ro": ("colega",),
        "bg": ("колежка",),
        "pl": ("kolezanka",),
    },
    "social_work": {
        "nl": ("maatschappelijk werk",),
        "en": ("social work",),
        "es": ("trabajo social",),
        "ro": ("asistenta sociala",),
        "bg": ("социален работник",),
        "pl": ("pomoc spoleczna",),
    },
    "sexual_health": {
        "nl": ("soa test", "soa", "seksuele gezondheid"),
        "en": ("sti test", "sti", "sexual health"),
        "es": ("salud sexual", "its"),
        "ro": ("sanatate sexuala",),
        "bg": ("сексуално здраве",),
        "pl": ("zdrowie seksualne",),
    },
    "emergency": {
        "nl": ("noodinfo", "noodgeval", "nood"),
        "en": ("emergency",),
        "es": ("emergencia",),
        "ro": ("urgenta",),
        "bg": ("спешно",),
        "pl": ("nagly wypadek",),
    },
}
MENU_ORDER: tuple[MenuChoice, ...] = ("peer", "social_work", "sexual_health", "emergency")

# Endonyms: shown on the language buttons (templates repeat them as lang_<code>)
# and accepted as answers, together with the codes and a few common exonyms.
LANGUAGE_NAMES: dict[str, str] = {
    "nl": "Nederlands",
    "en": "English",
    "es": "Español",
    "ro": "Română",
    "bg": "Български",
    "pl": "Polski",
}
LANGUAGE_ALIASES: dict[str, tuple[str, ...]] = {
    "nl": ("dutch", "nederlands", "holandes", "olandeza", "нидерландски", "niderlandzki"),
    "en": ("engels", "english", "ingles", "engleza", "английски", "angielski"),
    "es": ("spaans", "spanish", "espanol", "spaniola", "испански", "hiszpanski"),
    "ro": ("roemeens", "romanian", "rumano", "romana", "румънски", "rumunski"),
    "bg": ("bulgaars", "bulgarian", "bulgaro", "bulgara", "български", "bulgarski"),
    "pl": ("pools", "polish", "polaco", "poloneza", "полски", "polski"),
}


K = TypeVar("K", bound=str)


def _index(table: dict[K, dict[str, tuple[str, ...]]]) -> dict[str, K]:
    return {
        phrase(word): key
        for key, by_lang in table.items()
        for ws in by_lang.values()
        for word in ws
    }


_COMMANDS = _index(COMMAND_WORDS)
_ANSWERS = _index(ANSWER_WORDS)
_MENU = _index(MENU_WORDS)


def line_of(text: str | None) -> str | None:
    """The normalised single line a command could be, or None."""
    if text is None:
        return None
    line = single_line(text)
    if line is None:
        return None
    return phrase(line) or None


def command(line: str) -> Command | None:
    return _COMMANDS.get(line)


def answer(line: str) -> Answer | None:
    return _ANSWERS.get(line)


def menu_word(line: str) -> MenuChoice | None:
    return _MENU.get(line)


def language_code(line: str, languages: tuple[str, ...]) -> str | None:
    """A language answer: its number in `languages` (1-based), code or name."""
    if line.isdigit():
        number = int(line)
        return languages[number - 1] if 1 <= number <= len(languages) else None
    for code in languages:
        names = {code, phrase(LANGUAGE_NAMES.get(code, code))}
        names.update(phrase(a) for a in LANGUAGE_ALIASES.get(code, ()))
        if line in names:
            return code
    return None
