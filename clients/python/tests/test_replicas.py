"""More than one replica on one Redis: the other node in nodes(), RPC to it, shared state, a replica restarted under a
client, and RPC to a node that died."""

import pytest

import hornbeam_client
from hornbeam_client import HornbeamError
from hornbeam_erlang import node, nodes, rpc_call, state_get, state_incr, state_set

from conftest import API_KEY, wait_until


@pytest.fixture(scope="module")
def second(cluster):
    return cluster.replica("py-2@localhost")


def test_nodes_lists_the_other_replica_and_rpc_call_runs_there(second):
    assert wait_until(lambda: "py-2@localhost" in nodes(), 30, "the second replica appears in nodes()")
    assert node() == "dev-1@localhost"
    assert rpc_call("py-2@localhost", "demo", "predict", [[-1.0, 0.5]]) == {"label": "negative", "score": -0.5}
    hornbeam_client.configure(url=second.url, api_key=API_KEY)
    assert node() == "py-2@localhost" and "dev-1@localhost" in nodes()


def test_state_written_through_one_replica_is_read_through_the_other(second, service, name):
    state_set(f"{name}:k", {"from": "first"})
    hornbeam_client.configure(url=second.url, api_key=API_KEY)
    assert state_get(f"{name}:k") == {"from": "first"}


def test_a_replica_restarted_under_a_client_is_reconnected_to_and_applies_once(cluster, name):
    replica = cluster.replica("py-restart@localhost")
    hornbeam_client.configure(url=replica.url, api_key=API_KEY)
    assert state_incr(f"{name}:n") == 1
    replica.stop()
    replica.start()
    # The kept connection was closed by the old process: the POST goes on a new one, and applies once.
    assert state_incr(f"{name}:n") == 2
    replica.stop()


def test_rpc_call_to_a_node_that_died_raises_a_runtime_error(cluster, name):
    doomed = cluster.replica("py-doomed@localhost")
    wait_until(lambda: "py-doomed@localhost" in nodes(), 30, "the doomed replica appears in nodes()")
    doomed.stop(kill=True)
    with pytest.raises(RuntimeError) as raised:
        rpc_call("py-doomed@localhost", "demo", "predict", [[1.0]], timeout_ms=1000)
    assert isinstance(raised.value, HornbeamError)
    assert raised.value.kind in ("timeout", "not-found", "bad-gateway"), raised.value
