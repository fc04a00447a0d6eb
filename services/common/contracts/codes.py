"""Tracking codes: how intake makes them and how anyone reads them back as people type.

31 symbols: digits and capitals without 0/O, 1/I/L, which are confused when read aloud
or handwritten. 31 is prime, so a weighted sum mod 31 with distinct non-zero weights
catches every single substitution (w*(a-b) != 0 mod 31) and every adjacent
transposition ((w_i - w_j)*(a-b) != 0 mod 31).

Part of the contract: intake prints the codes, notify reads them in inbound SMS
(``TT 7k4m q2xc``), agencies quote them; all parse them with :func:`parse_code`.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_N = len(ALPHABET)
BODY = 7  # 31**7 ≈ 2.75e10 codes: collisions are rare and retried on the unique index
SYMBOLS = BODY + 1
_PREFIX = re.compile(r"^[A-Z]{1,4}$")
_SEPARATORS = re.compile(r"[\s\-_.–—/]+")


class BadCode(ValueError):
    """Not a well-formed tracking code (wrong symbols, length or check character)."""


def _weighted(symbols: str) -> int:
    return sum((i + 1) * _VALUE[ch] for i, ch in enumerate(symbols)) % _N


def check_char(body: str) -> str:
    """The symbol that makes the weighted sum of body + check zero mod 31."""
    weight = len(body) + 1
    need = (-_weighted(body)) % _N
    return ALPHABET[(need * pow(weight, -1, _N)) % _N]


def format_code(symbols: str, prefix: str = "") -> str:
    code = f"{symbols[:4]}-{symbols[4:]}"
    return f"{prefix}-{code}" if prefix else code


def new_code(prefix: str = "") -> str:
    """A fresh code such as ``7K4M-Q2XC`` (or ``NB-7K4M-Q2XC`` with a prefix)."""
    # one draw for the whole body: a draw is a system call, and a symbol each cost seven
    n = secrets.randbelow(_N ** BODY)
    body = ""
    for _ in range(BODY):
        n, digit = divmod(n, _N)
        body += ALPHABET[digit]
    return format_code(body + check_char(body), prefix)


def parse_code(raw: str) -> str:
    """Canonical form of a code as typed, or BadCode.

    Forgiven: case, spaces, dashes (or none at all), and a province prefix of 1-4
    letters with or without its dash (``nb 7k4m q2xc`` -> ``NB-7K4M-Q2XC``).
    """
    compact = _SEPARATORS.sub("", (raw or "").strip().upper())
    prefix, symbols = compact[:-SYMBOLS], compact[-SYMBOLS:]
    if prefix and not _PREFIX.match(prefix):
        raise BadCode("a tracking code has 8 symbols from " + ALPHABET)
    if len(symbols) != SYMBOLS or any(ch not in _VALUE for ch in symbols):
        raise BadCode("a tracking code has 8 symbols from " + ALPHABET)
    if _weighted(symbols) != 0:
        raise BadCode("check character does not match: the code was mistyped")
    return format_code(symbols, prefix)


def code_key(code: str) -> str:
    """The 8 symbols of a well-formed code, without prefix or dashes: what identifies it
    when one person types the prefix and another does not."""
    return parse_code(code).replace("-", "")[-SYMBOLS:]
