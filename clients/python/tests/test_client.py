"""hornbeam_client: configuration, API keys, errors and connections."""

import http.client
import os
import socket
import threading

import pytest

import hornbeam_client
from hornbeam_client import HornbeamConnectionError, HornbeamError, transport
from hornbeam_erlang import state_get, state_incr, state_set

from conftest import API_KEY, READ_ONLY_KEY, free_port, wait_until


def test_configure_reads_the_environment_when_not_given(monkeypatch, service, name):
    monkeypatch.setenv("HORNBEAM_URL", service)
    monkeypatch.setenv("HORNBEAM_API_KEY", API_KEY)
    hornbeam_client.configure()
    state_set(f"{name}:env", 1)
    assert state_get(f"{name}:env") == 1


def test_the_url_defaults_to_localhost_5000(monkeypatch):
    monkeypatch.delenv("HORNBEAM_URL", raising=False)
    assert hornbeam_client.configure().url == "http://localhost:5000"


def test_a_missing_or_unknown_key_is_unauthorized(service, name):
    for key in (None, "not-a-key"):
        hornbeam_client.configure(url=service, api_key=key)
        with pytest.raises(HornbeamError) as raised:
            state_get(f"{name}:k")
        assert raised.value.status == 401 and raised.value.kind == "unauthorized"


def test_a_key_without_the_scope_is_forbidden(service, name):
    hornbeam_client.configure(url=service, api_key=READ_ONLY_KEY)
    assert state_get(f"{name}:k") is None
    with pytest.raises(HornbeamError) as raised:
        state_set(f"{name}:k", 1)
    assert raised.value.status == 403 and raised.value.kind == "forbidden"


def test_an_unreachable_service_raises_a_runtime_error_that_says_nothing_was_sent(name):
    hornbeam_client.configure(url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RuntimeError) as raised:
        state_incr(f"{name}:n")
    assert isinstance(raised.value, HornbeamConnectionError)
    assert raised.value.status is None and raised.value.kind == "unreachable"


def test_a_url_that_is_not_http_is_refused():
    with pytest.raises(ValueError):
        hornbeam_client.configure(url="localhost:5000")


@pytest.mark.parametrize("kind", ["redis-unavailable", "outcome-unknown", "overloaded"])
def test_the_503s_are_told_apart_by_kind(kind):
    answer = transport.Response(503, {"Retry-After": "1"}, (
        '{"type": "urn:hornbeam:problem:%s", "title": "t", "status": 503, "detail": "d"}' % kind).encode())
    error = transport.problem(answer)
    assert isinstance(error, RuntimeError)
    assert (error.status, error.kind, error.type, error.detail, error.retry_after) == (
        503, kind, f"urn:hornbeam:problem:{kind}", "d", 1)
    assert error.problem["title"] == "t"


def test_a_thread_keeps_its_connection_and_threads_do_not_share_one(name):
    state_get(f"{name}:a")
    first = transport._local.conn[1]
    state_get(f"{name}:a")
    assert transport._local.conn[1] is first
    others = []
    t = threading.Thread(target=lambda: (state_get(f"{name}:a"), others.append(transport._local.conn[1])))
    t.start()
    t.join()
    assert others and others[0] is not first


def test_a_connection_the_server_closed_is_not_reused():
    # A replica that restarted closed its side: the idle socket reads as ready, so it is dropped before sending.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        conn = http.client.HTTPConnection("127.0.0.1", listener.getsockname()[1])
        conn.connect()
        accepted, _ = listener.accept()
        assert not transport._dropped(conn)
        accepted.close()
        wait_until(lambda: transport._dropped(conn), 10, "the closed connection reads as ready")
        conn.close()


def test_a_forked_child_opens_its_own_connection(name):
    state_incr(f"{name}:n")
    parent = transport._local.conn[1]
    child = os.fork()
    if child == 0:
        # The child's calls go on a connection of its own; the parent's stays usable.
        code = 1
        try:
            code = 0 if state_incr(f"{name}:n") == 2 and transport._local.conn[1] is not parent else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert state_incr(f"{name}:n") == 3 and transport._local.conn[1] is parent
