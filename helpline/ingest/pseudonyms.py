"""Random pseudonyms such as "Tulp-47".

Random per texter and never derived from the identifier: a pseudonym must not
let anyone who knows a number recompute who "Tulp-47" is.
"""

from __future__ import annotations

import secrets

FLOWERS = (
    "Tulp", "Roos", "Lelie", "Iris", "Dahlia", "Anjer", "Lavendel", "Klaproos",
    "Madelief", "Zonnebloem", "Orchidee", "Jasmijn", "Magnolia", "Pioen", "Viool",
    "Krokus", "Narcis", "Hyacint", "Fresia", "Gerbera", "Lotus", "Kamille", "Akelei",
    "Vergeet-me-niet", "Korenbloem", "Hortensia", "Azalea", "Begonia", "Camelia", "Salie",
    "Muntje", "Distel", "Sering", "Goudsbloem", "Zinnia", "Aster", "Cosmea", "Primula",
    "Anemoon", "Ranonkel",
)  # fmt: skip


def new_pseudonym(digits: int = 2) -> str:
    number = secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1)
    return f"{secrets.choice(FLOWERS)}-{number}"
