"""A synthetic corpus of customers' chat messages: some carry a card number, an IBAN, a sort code and account
number, an email address or a phone number, typed in the formats customers use; the others carry the numbers a
bank chat is full of that are not personal data (amounts, dates, times, references)."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from stdnum import iban, luhn


@dataclass(frozen=True)
class Message:
    text: str
    secrets: tuple[tuple[str, str], ...]  # (kind, the value as typed): what must not survive masking


def _card(rng: random.Random) -> str:
    prefix, length = rng.choice([("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("4", 13)])
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    digits = body + luhn.calc_check_digit(body)
    style = rng.choice(["compact", "spaced", "dashed"])
    if style == "compact":
        return digits
    sep = " " if style == "spaced" else "-"
    if length == 15:
        return sep.join([digits[:4], digits[4:10], digits[10:]])
    return sep.join(digits[i : i + 4] for i in range(0, length, 4))


def _iban(rng: random.Random) -> str:
    country = rng.choice(["GB", "DE", "FR", "NL", "IE"])
    letters = "".join(rng.choice(string.ascii_uppercase) for _ in range(11))
    bban = {
        "GB": rng.choice(["NWBK", "BARC", "LOYD", "HBUK"]) + _digits(rng, 14),
        "DE": _digits(rng, 18),
        "FR": _digits(rng, 10) + letters + "00",
        "NL": rng.choice(["ABNA", "INGB", "RABO"]) + _digits(rng, 10),
        "IE": rng.choice(["AIBK", "BOFI"]) + _digits(rng, 14),
    }[country]
    number = country + "00" + bban
    number = country + iban.calc_check_digits(number) + number[4:]
    style = rng.choice(["compact", "grouped", "grouped", "lower"])
    if style == "compact":
        return number
    grouped = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return grouped.lower() if style == "lower" else grouped


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _sort_code(rng: random.Random) -> str:
    d = _digits(rng, 6)
    return rng.choice([f"{d[:2]}-{d[2:4]}-{d[4:]}", f"{d[:2]} {d[2:4]} {d[4:]}", d])


def _email(rng: random.Random) -> str:
    user = rng.choice(["jane.doe", "j_smith77", "mark+bank", "a.b.c", "olu", "priya.k", "tom-h", "x9"])
    host = rng.choice(["gmail.com", "outlook.co.uk", "example.org", "mail.example.ac.uk", "btinternet.com"])
    return f"{user}{rng.randint(1, 999) if rng.random() < 0.4 else ''}@{host}"


def _phone(rng: random.Random) -> str:
    mobile = "7" + _digits(rng, 9)
    london = "20" + _digits(rng, 8)
    manchester = "161" + _digits(rng, 7)
    return rng.choice(
        [
            f"0{mobile[:4]} {mobile[4:]}",
            f"0{mobile}",
            f"+44 {mobile[:4]} {mobile[4:]}",
            f"+44{mobile}",
            f"+44 (0){london[:2]} {london[2:6]} {london[6:]}",
            f"0{london[:2]} {london[2:6]} {london[6:]}",
            f"0{manchester[:3]} {manchester[3:6]} {manchester[6:]}",
            f"+1 (415) 555-{_digits(rng, 4)}",
            f"+1 212-555-{_digits(rng, 4)}",
            f"+33 1 {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}",
            f"0044 {mobile}",
        ]
    )


_WITH = [
    ("card", "my card {} was declined at the shop"),
    ("card", "Hi, can you block {} please, I lost it"),
    ("card", "why was {} charged twice?"),
    ("card", "card number: {} exp 09/27"),
    ("iban", "I need to send money to {} is that right"),
    ("iban", "my IBAN is {}"),
    ("iban", "transfer from {} hasnt arrived"),
    ("email", "please email the statement to {}"),
    ("email", "{} is my new address, update it"),
    ("email", "I got a weird message from {} asking for my pin"),
    ("phone", "call me back on {}"),
    ("phone", "my number changed to {} can you update"),
    ("phone", "someone rang from {} saying they were the bank"),
]
_ACCOUNT = [
    "sort code {sort} account {account} is mine",
    "pls check acc {account} sort {sort}",
    "Sort code: {sort}, account no {account}",
    "I sent it to {sort} {account} yesterday",
    "a/c {account} s/c {sort} payment missing",
]
_WITHOUT = [
    "I paid £{amount} on {date} and it hasnt shown",
    "my card ending {last4} was declined at {time}",
    "transfer of {amount} pounds is pending since {date}",
    "order {ref} never arrived and the shop wont refund",
    "I was charged {small} times for the same thing",
    "how do I raise my limit to £{big}?",
    "my account was debited £{amount} on {date}",
    "reference {ref8} on the statement, what is it",
    "the app says error {small}{small}{small} when I log in",
    "I have been a customer since {year} and this is a joke",
    "can I pay {amount} euros with apple pay in store",
    "my pin got blocked after {small} tries at {time}",
    "the exchange rate on {date} was {rate}, why did I get less",
    "cash machine kept £{small}0 but gave me nothing",
    "postcode SW1A 1AA, can you change my address",
    "top up of {amount} failed twice today",
]


def corpus(seed: int = 7, each: int = 220) -> tuple[list[Message], list[Message]]:
    """`each` messages with personal data and `each` without, the same for a seed."""
    rng = random.Random(seed)
    makers = {"card": _card, "iban": _iban, "email": _email, "phone": _phone}
    with_pii: list[Message] = []
    while len(with_pii) < each:
        if rng.random() < 0.2:
            sort, account = _sort_code(rng), _digits(rng, 8)
            text = rng.choice(_ACCOUNT).format(sort=sort, account=account)
            with_pii.append(Message(text, (("sort_code", sort), ("account", account))))
            continue
        kind, template = rng.choice(_WITH)
        value = makers[kind](rng)
        with_pii.append(Message(template.format(value), ((kind, value),)))
    without: list[Message] = []
    while len(without) < each:
        text = rng.choice(_WITHOUT).format(
            amount=f"{rng.randint(1, 4999)}.{rng.randint(0, 99):02d}",
            big=f"{rng.randint(1, 50)},000",
            date=rng.choice(
                [f"{rng.randint(1, 28)}/{rng.randint(1, 12):02d}/2024", f"{rng.randint(1, 28)} March", "2024-05-12"]
            ),
            time=f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
            ref=_digits(rng, 6),
            ref8=rng.choice(["REF", "TX"]) + _digits(rng, 8),
            last4=_digits(rng, 4),
            small=rng.randint(2, 9),
            year=rng.randint(1990, 2024),
            rate=f"1.{rng.randint(10, 19)}",
        )
        without.append(Message(text, ()))
    return with_pii, without


def with_personal_data(text: str, rng: random.Random) -> str:
    """A customer's message as it might have been typed with a card number, an IBAN, an email or a phone in it."""
    return rng.choice(
        [
            f"{text} my card is {_card(rng)}",
            f"{text}, call me on {_phone(rng)}",
            f"hi my email is {_email(rng)}. {text}",
            f"{text} account {_iban(rng)}",
            f"sort code {_sort_code(rng)} account {_digits(rng, 8)}: {text}",
        ]
    )
