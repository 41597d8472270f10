"""Masking the personal data customers type into a bank's chat: card numbers (Luhn-checked; the last four kept, as
PCI DSS allows), IBANs, UK sort codes and account numbers, email addresses and phone numbers. Pure, no I/O.

Presidio's analyzer was measured first: its engine downloads a spaCy model at start, which is not reachable here,
and spaCy alone adds hundreds of MB to the worker. Checks come from maintained libraries instead (python-stdnum's
Luhn and IBAN, phonenumbers' matcher); the patterns that find candidates are this module's and tested on a corpus.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import phonenumbers
from stdnum import iban, luhn

PHONE_REGION = "GB"  # how a number without a country code is read
LONGEST_RUN = 40  # digits in one run that are searched for a card number; longer runs are masked whole
TAIL_CHARS = 64  # where a limit cuts the text, the end searched for a partial number or word

# Each pattern starts only where a match could begin (a lookbehind), so a long run of one character is read once.
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# An IBAN as typed: country, check digits, then groups of up to four, spaced or not; the longest valid prefix wins.
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}[A-Za-z0-9]{0,30}(?: [A-Za-z0-9]{1,4}){0,8}")
# Digits with single spaces or dashes between them: a card number may sit anywhere in such a run ("2 4111 … 12/26").
_DIGIT_RUN = re.compile(r"(?<![\d])\d(?:[ -]?\d)*")
_SORT_SPACED = re.compile(r"(?<![\d-])\d{2}([- ])\d{2}\1\d{2}(?![\d-])")
_SORT_THEN_ACCOUNT = re.compile(r"(?<![\d-])(?:\d{6}|\d{2}([- ])\d{2}\1\d{2})[ ,/]+\d{8}(?![\d-])")
_SIX = re.compile(r"(?<![\d-])\d{6}(?![\d-])")
_EIGHT = re.compile(r"(?<![\d-])\d{8}(?![\d-])")
_ACCOUNT_WORDS = re.compile(r"\b(?:account|acct?|a/c|sort ?code|sort)\b", re.IGNORECASE)
_SORT_WORD = re.compile(r"\bsort\b", re.IGNORECASE)


@dataclass
class Masked:
    text: str
    found: Counter[str] = field(default_factory=Counter)


def mask(text: str) -> str:
    """`text` with every card number, IBAN, sort code, account number, email address and phone number replaced by
    a label such as `[card ending 1234]` or `[email]`."""
    return find_and_mask(text).text


def find_and_mask(text: str) -> Masked:
    """`mask`, with how many of each kind it replaced."""
    masked = Masked(text)
    for step in (_emails, _ibans, _sort_and_account, _cards, _phones, _sort_codes_and_accounts):
        step(masked)
    return masked


def _replace(masked: Masked, spans: list[tuple[int, int, str, str]]) -> None:
    """Replace (start, end, label, kind) spans, which do not overlap, in one pass."""
    if not spans:
        return
    out, last = [], 0
    for start, end, label, kind in sorted(spans):
        out.append(masked.text[last:start])
        out.append(label)
        masked.found[kind] += 1
        last = end
    out.append(masked.text[last:])
    masked.text = "".join(out)


def _sub(masked: Masked, pattern: re.Pattern[str], label: Callable[[str], str | None], kind: str) -> None:
    spans = []
    for match in pattern.finditer(masked.text):
        if (replacement := label(match.group())) is not None:
            spans.append((match.start(), match.end(), replacement, kind))
    _replace(masked, spans)


def _emails(masked: Masked) -> None:
    _sub(masked, _EMAIL, lambda _: "[email]", "email")


def _ibans(masked: Masked) -> None:
    spans = []
    for match in _IBAN.finditer(masked.text):
        groups = match.group().split(" ")
        for n in range(len(groups), 0, -1):
            candidate = " ".join(groups[:n])
            if iban.is_valid(candidate.replace(" ", "")):
                spans.append((match.start(), match.start() + len(candidate), "[IBAN]", "iban"))
                break
    _replace(masked, spans)


def _cards(masked: Masked) -> None:
    """In each run of digits, stretches of 13 to 19 digits that begin and end where the customer's grouping does
    (the run's ends, a space or a dash) and pass the Luhn check, the longest first, from the left."""
    spans = []
    for run in _DIGIT_RUN.finditer(masked.text):
        where = [run.start() + i for i, c in enumerate(run.group()) if c.isdigit()]
        if len(where) < 13:
            continue
        if len(where) > LONGEST_RUN:  # no one types that many digits but to paste something: none of it is shown
            spans.append((run.start(), run.end(), "[long number]", "card"))
            continue
        digits = "".join(masked.text[i] for i in where)
        edges = [0, *(k for k in range(1, len(where)) if where[k] - where[k - 1] > 1), len(where)]
        i = 0
        while i < len(digits):
            ends = [e for e in reversed(edges) if 13 <= e - i <= 19 and luhn.is_valid(digits[i:e])]
            if i in edges and ends:
                label = f"[card ending {digits[ends[0] - 4 : ends[0]]}]"
                spans.append((where[i], where[ends[0] - 1] + 1, label, "card"))
                i = ends[0]
            else:
                i += 1
    _replace(masked, spans)


def _phones(masked: Masked) -> None:
    # The matcher's loosest setting finds numbers in any format, including test ranges its stricter settings call
    # invalid; the shape checks below keep it off amounts, dates and references.
    spans = []
    text = masked.text
    matcher = phonenumbers.PhoneNumberMatcher(text, PHONE_REGION, leniency=phonenumbers.Leniency.POSSIBLE)
    for match in matcher:
        raw = match.raw_string
        if match.start > 0 and text[match.start - 1].isalnum():
            continue  # part of a reference such as TX0044...
        digits = sum(c.isdigit() for c in raw)
        plus = raw.startswith("+") and 8 <= digits <= 15
        zeros = raw.startswith("00") and 10 <= digits <= 17
        national = raw[:1] in ("0", "(") and 10 <= digits <= 11
        if plus or zeros or national:
            spans.append((match.start, match.end, "[phone]", "phone"))
    _replace(masked, spans)


def _sort_and_account(masked: Masked) -> None:
    """A sort code then an account number (123456 12345678, 12-34-56 12345678): before cards, whose pattern would
    take both."""
    spans = []
    for match in _SORT_THEN_ACCOUNT.finditer(masked.text):
        sort_end = match.start() + (8 if match.group(1) else 6)
        spans.append((match.start(), sort_end, "[sort code]", "sort_code"))
        spans.append((match.end() - 8, match.end(), "[account]", "account"))
    _replace(masked, spans)


def _sort_codes_and_accounts(masked: Masked) -> None:
    """A sort code typed as 12-34-56 or 12 34 56 is masked wherever it is (after phones, which have such groups);
    six or eight bare digits only when the message speaks of an account or a sort code, as they are just as often
    an amount, a date or a reference."""
    _sub(masked, _SORT_SPACED, lambda _: "[sort code]", "sort_code")
    if not _ACCOUNT_WORDS.search(masked.text) and "[sort code]" not in masked.text:
        return
    _sub(masked, _EIGHT, lambda _: "[account]", "account")
    if _SORT_WORD.search(masked.text) or "[account]" in masked.text:
        _sub(masked, _SIX, lambda _: "[sort code]", "sort_code")


def mask_bytes(raw: bytes, limit: int | None = None) -> bytes:
    """`raw` with the personal data in it masked, at most `limit` bytes of it. JSON is masked value by value (its
    escapes would hide a number from the patterns); other bytes as text, where bytes that are not UTF-8 are kept as
    they are, so an event rejected for its encoding still shows why. Where the limit cuts the text, the partial
    token at the end is dropped too: it may be the start of a number too short to be recognised."""
    try:
        if limit is not None and len(raw) > limit:
            raise ValueError("too long to read whole")
        value = orjson.loads(raw)
        shown = _mask_json(value)
        masked = raw if shown == value else orjson.dumps(shown)  # as it came, byte for byte, when nothing was masked
    except (ValueError, TypeError):  # orjson's errors are both
        cut = limit is not None and len(raw) > limit
        text = raw[:limit].decode("utf-8", "surrogateescape") if cut else raw.decode("utf-8", "surrogateescape")
        if cut:  # only the end: the rest is whole
            head, tail = text[:-TAIL_CHARS], text[-TAIL_CHARS:]
            tail = tail.rstrip("0123456789 -+().")
            text = head + (tail.rsplit(" ", 1)[0] if " " in tail else "")
        masked = mask(text).encode("utf-8", "surrogateescape")
    return masked if limit is None or len(masked) <= limit else masked[:limit]


def _mask_json(value: object) -> object:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {mask(key): _mask_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_json(item) for item in value]
    return value
