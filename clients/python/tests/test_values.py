"""Values cross as JSON under the service's rule (I-JSON): what cannot is refused before anything is sent."""

import math

import pytest

from hornbeam_client import values
from hornbeam_erlang import execute, publish, state_get, state_keys, state_set


def test_tuples_come_back_as_lists(name):
    state_set(f"{name}:t", (1, (2, 3)))
    assert state_get(f"{name}:t") == [1, [2, 3]]


def test_large_integers_and_unicode_round_trip(name):
    value = {"big": 2**63 - 1, "neg": -(2**63), "text": "\u2028 żółw \U0001F422", "float": 0.1}
    state_set(f"{name}:v", value)
    assert state_get(f"{name}:v") == value


@pytest.mark.parametrize("value, error", [
    (b"raw", TypeError), (bytearray(b"x"), TypeError), ({1: "a"}, TypeError), ({(1, 2): "a"}, TypeError),
    ({"a"}, TypeError), (object(), TypeError), (float("nan"), ValueError), (math.inf, ValueError),
    ([1, {"x": -math.inf}], ValueError), ("\ud800 lone surrogate", ValueError), ({"\udc00": 1}, ValueError),
])
def test_what_json_cannot_carry_is_refused_before_sending(name, value, error):
    with pytest.raises(error):
        state_set(f"{name}:bad", value)
    with pytest.raises(error):
        publish(f"{name}:topic", value)
    with pytest.raises(error):
        execute("demo", "encode", value)
    assert state_keys(name) == []


def test_a_refusal_names_the_type_in_words_a_reader_parses():
    with pytest.raises(TypeError, match=r"dict key 1 is of type int;"):
        values.plain({1: "a"})
    with pytest.raises(TypeError, match=r"^a value of type object does not cross as JSON"):
        values.plain(object())


def test_nesting_beyond_the_service_limit_is_refused(name):
    value = []
    for _ in range(70):
        value = [value]
    with pytest.raises(ValueError):
        state_set(f"{name}:deep", value)
