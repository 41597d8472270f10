from __future__ import annotations

import pytest

from streams.web.views import BadRequest, parse_search


def test_defaults_follow_the_contract() -> None:
    assert parse_search({"q": " card not arrived "}) == ("card not arrived", 5, "help_article")
    assert parse_search({"q": "x", "k": "50", "kind": "saved_response"}) == ("x", 50, "saved_response")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({}, "q is required"),
        ({"q": "   "}, "q is required"),
        ({"q": "x", "k": "0"}, "k must be from 1 to 50"),
        ({"q": "x", "k": "51"}, "k must be from 1 to 50"),
        ({"q": "x", "k": "2.5"}, "k must be an integer"),
        ({"q": "x", "kind": "faq"}, "kind must be one of saved_response, help_article"),
        ({"q": "x" * 4001}, "longer than 4000"),
    ],
)
def test_bad_requests_say_what_is_wrong(query: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_search(query)
