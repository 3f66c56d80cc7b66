"""Shared state: the seed's state_* functions and their shortcuts, over /state."""

import builtins
import threading

import pytest

from hornbeam_client import HornbeamError
from hornbeam_erlang import (decr, delete, get, incr, set, state_decr, state_delete, state_get, state_get_multi, state_incr,
                             state_keys, state_set)


def test_get_of_a_missing_key_is_none(name):
    assert state_get(f"{name}:absent") is None


def test_set_then_get_answers_the_value_and_delete_removes_it(name):
    value = {"name": "Alice", "tags": ["a", "b"], "n": 3, "x": 1.5, "ok": True, "none": None, "text": "żółw 🐢"}
    state_set(f"{name}:user", value)
    assert state_get(f"{name}:user") == value
    state_delete(f"{name}:user")
    assert state_get(f"{name}:user") is None
    state_delete(f"{name}:user")  # deleting a missing key is not an error


def test_keys_with_slashes_colons_and_percent_signs_are_keys_as_given(name):
    for key in (f"{name}:views:/home", f"{name}/a/b", f"{name}%2Fc", f"{name} space?&#"):
        state_set(key, key)
        assert state_get(key) == key
    assert sorted(state_keys(name)) == sorted([f"{name}:views:/home", f"{name}/a/b", f"{name}%2Fc", f"{name} space?&#"])


def test_incr_on_a_missing_key_answers_the_delta(name):
    assert state_incr(f"{name}:views") == 1
    assert state_incr(f"{name}:views", 10) == 11
    assert state_incr(f"{name}:fresh", 5) == 5
    assert state_get(f"{name}:views") == 11


def test_decr_goes_below_zero(name):
    assert state_decr(f"{name}:quota") == -1
    assert state_decr(f"{name}:quota", 4) == -5


def test_counters_are_exact_over_64_bits(name):
    state_set(f"{name}:big", 2**62)
    assert state_incr(f"{name}:big", 2**62 - 1) == 2**63 - 1


def test_incr_on_a_non_integer_raises_a_runtime_error_with_the_conflict(name):
    state_set(f"{name}:text", "hello")
    with pytest.raises(RuntimeError) as raised:
        state_incr(f"{name}:text")
    assert isinstance(raised.value, HornbeamError)
    assert raised.value.status == 409 and raised.value.kind == "conflict"
    assert raised.value.problem["type"] == "urn:hornbeam:problem:conflict"
    assert state_get(f"{name}:text") == "hello"


def test_delta_must_be_an_int(name):
    with pytest.raises(TypeError):
        state_incr(f"{name}:n", 1.5)


def test_get_multi_maps_missing_keys_to_none(name):
    state_set(f"{name}:1", {"id": 1})
    state_set(f"{name}:3", [3])
    assert state_get_multi([f"{name}:1", f"{name}:2", f"{name}:3"]) == {f"{name}:1": {"id": 1}, f"{name}:2": None, f"{name}:3": [3]}
    assert state_get_multi([]) == {}


def test_keys_lists_every_match_across_pages(name):
    # Over one page of 1000, so state_keys must follow the cursor.
    keys = [f"{name}:k:{i:05d}" for i in range(1203)]
    threads = [threading.Thread(target=lambda part: [state_set(k, 1) for k in part], args=(keys[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state_keys(f"{name}:k:") == keys
    state_set(f"{name}:other", 1)
    assert len(state_keys(name)) == 1204
    assert builtins.set(keys) <= builtins.set(state_keys())


def test_shortcuts_are_the_state_functions(name):
    set(f"{name}:s", [1, 2])
    assert get(f"{name}:s") == [1, 2]
    assert incr(f"{name}:c") == 1
    assert decr(f"{name}:c", 3) == -2
    delete(f"{name}:s")
    assert get(f"{name}:s") is None


def test_incr_from_many_threads_loses_no_increment(name):
    def work():
        for _ in range(50):
            state_incr(f"{name}:hot")
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state_get(f"{name}:hot") == 400


def test_a_key_must_be_a_non_empty_str(name):
    with pytest.raises(TypeError):
        state_get(123)
    with pytest.raises(ValueError):
        state_get("")


def test_get_multi_of_more_keys_than_one_request_takes_reads_them_all(name):
    keys = [f"{name}:m:{i}" for i in range(2500)]
    for key in keys[::500]:
        state_set(key, key)
    got = state_get_multi(keys + [keys[0]])
    assert len(got) == 2500 and all(got[k] == (k if i % 500 == 0 else None) for i, k in enumerate(keys))
