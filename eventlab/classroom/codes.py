"""Join codes: 8 characters of Crockford's base32 (no I, L, O, U: nothing to mishear or misread), 40 bits, shown
grouped ABCD-EFGH; typed in any case, with or without the dash (and I, L read as 1, O as 0, as Crockford says)."""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 8  # 8 × 5 bits = 40 bits


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(typed: str) -> str | None:
    """The code someone typed, as stored; None when it cannot be a code."""
    code = "".join(typed.split()).replace("-", "").upper().translate(str.maketrans("ILO", "110"))
    if len(code) != LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def shown(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"
