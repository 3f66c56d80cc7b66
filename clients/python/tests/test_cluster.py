"""Nodes, RPC, registered functions and pub/sub: the seed's rpc_*, nodes, node, call, cast and publish."""

import threading
import time

import pytest

from hornbeam_client import HornbeamError, transport
from hornbeam_erlang import call, cast, node, nodes, publish, rpc_call, rpc_cast


def test_node_is_the_development_replica_and_nodes_are_the_others():
    assert node() == "dev-1@localhost"
    others = nodes()
    assert isinstance(others, list) and node() not in others


def test_rpc_call_answers_the_remote_function_result():
    assert rpc_call(node(), "hornbeam", "ping", []) == "pong"
    assert rpc_call(node(), "demo", "predict", [[1.0, 2.0]], timeout_ms=2000) == {"label": "positive", "score": 3}


def test_rpc_call_past_its_timeout_raises_the_timeout_error():
    # demo.sleep is a Development sample that answers after the milliseconds it is given.
    started = time.monotonic()
    with pytest.raises(RuntimeError) as raised:
        rpc_call(node(), "demo", "sleep", [5000], timeout_ms=300)
    assert isinstance(raised.value, HornbeamError)
    assert raised.value.status == 504 and raised.value.kind == "timeout"
    assert time.monotonic() - started < 4
    assert rpc_call(node(), "demo", "sleep", [10], timeout_ms=5000) == 10
    with pytest.raises(HornbeamError) as raised:
        rpc_call(node(), "demo", "sleep", [60000])
    assert raised.value.kind == "invalid-input"


def test_rpc_call_to_an_unknown_node_raises_a_runtime_error():
    with pytest.raises(RuntimeError) as raised:
        rpc_call("nobody@nowhere", "demo", "predict", [[1.0]])
    assert raised.value.status == 404 and raised.value.kind == "not-found"


def test_rpc_call_with_a_timeout_outside_the_allowed_range_is_invalid_input():
    with pytest.raises(HornbeamError) as raised:
        rpc_call(node(), "hornbeam", "ping", [], timeout_ms=0)
    assert raised.value.status == 400 and raised.value.kind == "invalid-input"


def test_rpc_args_is_a_list():
    with pytest.raises(TypeError):
        rpc_call(node(), "hornbeam", "ping", "abc")


def test_rpc_cast_returns_none_and_an_unknown_node_raises():
    assert rpc_cast(node(), "demo", "log", ["info", "from python"]) is None
    with pytest.raises(HornbeamError) as raised:
        rpc_cast("nobody@nowhere", "demo", "log", ["info", "x"])
    assert raised.value.kind == "not-found"


def test_call_runs_a_registered_function():
    assert call("demo_add", 2, 3) == 5


def test_call_of_an_unknown_function_or_with_wrong_arguments_raises(name):
    with pytest.raises(HornbeamError) as raised:
        call(f"{name}_missing", 1)
    assert raised.value.status == 404
    with pytest.raises(HornbeamError) as raised:
        call("demo_add", "two", 3)
    assert raised.value.status == 400 and raised.value.kind == "invalid-input"


def test_cast_returns_none():
    assert cast("demo_add", 1, 2) is None


def test_publish_without_subscribers_answers_zero(name):
    assert publish(f"{name}:topic", {"type": "alert"}) == 0


def test_publish_answers_the_subscribers_it_reached_and_they_get_the_message(name):
    topic = f"{name}:news"
    events = transport.EventStream("GET", f"/pubsub/{transport.quote(topic)}")
    try:
        assert next(events)[0] == "subscribed"
        received = []
        reader = threading.Thread(target=lambda: received.append(next(events)))
        reader.start()
        assert publish(topic, {"text": "hi", "n": [1, 2]}) == 1
        reader.join(timeout=30)
        assert received and received[0][0] == "message"
        assert transport.values.decode(received[0][1].encode()) == {"text": "hi", "n": [1, 2]}
    finally:
        events.close()
