"""hornbeam_ml: cached_inference and cache_stats on the service's inference cache, and keys computed the way the service
computes them."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

import hornbeam_client
from hornbeam_client import HornbeamError, transport, values
from hornbeam_erlang import register_hook, unregister_hook
from hornbeam_ml import cache_stats, cached_inference

from conftest import API_KEY, READ_ONLY_KEY, wait_until


def counts(stats):
    return {k: stats[k] for k in ("hits", "misses", "total", "hit_rate")}


class Model:
    def __init__(self, result=lambda x: [len(x), x]):
        self.calls = 0
        self.result = result

    def encode(self, x):
        self.calls += 1
        return self.result(x)


def test_a_miss_runs_fn_and_a_hit_answers_the_cached_result(name):
    model = Model()
    assert cached_inference(model.encode, f"{name} text", cache_prefix=name) == [len(name) + 5, f"{name} text"]
    assert cached_inference(model.encode, f"{name} text", cache_prefix=name) == [len(name) + 5, f"{name} text"]
    assert model.calls == 1
    assert counts(cache_stats(name)) == {"hits": 1, "misses": 1, "total": 2, "hit_rate": 0.5}


def test_hit_and_miss_answer_the_same_types(name):
    model = Model(lambda x: (x, {"pair": (1, 2)}))
    first = cached_inference(model.encode, "t", cache_prefix=name)
    assert first == cached_inference(model.encode, "t", cache_prefix=name) == ["t", {"pair": [1, 2]}]


def test_equal_inputs_share_an_entry_whatever_their_key_order_or_number_form(name):
    model = Model(lambda x: "r")
    cached_inference(model.encode, {"b": 1.0, "a": [1, 2]}, cache_prefix=name)
    cached_inference(model.encode, {"a": (1, 2), "b": 1}, cache_prefix=name)
    assert model.calls == 1


def test_an_explicit_cache_key_is_used_verbatim(name):
    model = Model()
    cached_inference(model.encode, "one", cache_key=f"embed:v2:{name}", cache_prefix=name)
    assert cached_inference(model.encode, "other input", cache_key=f"embed:v2:{name}", cache_prefix=name) == [3, "one"]
    assert model.calls == 1


def test_a_none_result_is_not_cached_and_an_exception_propagates(name):
    model = Model(lambda x: None)
    assert cached_inference(model.encode, "x", cache_prefix=name) is None
    assert cached_inference(model.encode, "x", cache_prefix=name) is None
    assert model.calls == 2

    def fail(x):
        raise KeyError("model broke")
    with pytest.raises(KeyError):
        cached_inference(fail, "y", cache_prefix=name)
    assert cache_stats(name)["misses"] == 3
    # The failure released the claim: the next call computes at once instead of waiting out the 30 s lease.
    started = time.monotonic()
    assert cached_inference(lambda x: "now", "y", cache_prefix=name) == "now"
    assert time.monotonic() - started < 10


def test_a_result_that_cannot_cross_as_json_raises_and_releases_the_claim(name):
    with pytest.raises(TypeError):
        cached_inference(lambda x: {1: "int key"}, "z", cache_prefix=name)
    assert cached_inference(lambda x: "fine", "z", cache_prefix=name) == "fine"


def test_threads_of_one_process_missing_one_key_compute_once(name):
    started, release = threading.Event(), threading.Event()
    model = Model()

    def slow(x):
        started.set()
        release.wait(30)
        return model.encode(x)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cached_inference(slow, "same", cache_prefix=name)))
               for _ in range(4)]
    for t in threads:
        t.start()
    started.wait(30)
    release.set()
    for t in threads:
        t.join(30)
    assert results == [[4, "same"]] * 4 and model.calls == 1


def test_cache_stats_over_all_prefixes_counts_every_prefix(name):
    before = cache_stats()
    cached_inference(Model().encode, "a", cache_prefix=f"{name}-1")
    cached_inference(Model().encode, "a", cache_prefix=f"{name}-2")
    after = cache_stats()
    assert set(after) >= {"hits", "misses", "hit_rate"}
    assert after["misses"] - before["misses"] == 2
    assert counts(after["prefixes"][f"{name}-2"]) == {"hits": 0, "misses": 1, "total": 1, "hit_rate": 0.0}
    assert counts(cache_stats(f"{name}-1")) == {"hits": 0, "misses": 1, "total": 1, "hit_rate": 0.0}


def test_hit_rate_is_a_float_also_before_anything_was_counted(name):
    stats = cache_stats(name)
    assert stats["hit_rate"] == 0.0 and isinstance(stats["hit_rate"], float)
    cached_inference(Model().encode, "x", cache_prefix=name)
    for each in [cache_stats(), cache_stats(name), *cache_stats()["prefixes"].values()]:
        assert isinstance(each["hit_rate"], float)


@pytest.mark.parametrize("prefix", ["", "a{b}", None])
def test_a_prefix_is_a_non_empty_str_without_braces(prefix):
    with pytest.raises(ValueError):
        cached_inference(Model().encode, "x", cache_prefix=prefix)


INPUTS = [
    "hello world", "", "quote \" backslash \\ tab \t newline \n bell \x07 del \x7f", "żółw 🐢 \u2028",
    {"b": 1, "a": {"d": [1, 2], "c": None}, "é": True, "Z": False, "\U0001F422": 1, "\uff5e": 2},
    1, 1.0, -0.0, 0.1, 1.5e-07, 1e20, 2**63 - 1, -(2**63), 2**63, 2**70, 1e15 + 0.5, 123456789012345.6,
    0.0001, 0.00001, -2.5e-300, 10**400, 1.7976931348623157e308, 3.14159, [1, [2.5, "x"], {}], [],
]


def test_keys_match_the_ones_the_service_computes(name, hook_endpoint):
    # The service's /ml/cached route answers the key it computed; an HTTP hook gives it something to run.
    register_hook(name, f"{hook_endpoint}/{name}")
    try:
        for item in INPUTS:
            answer = transport.request("POST", f"/ml/cached/{name}/echo", body={"input": item, "cache_prefix": name},
                                       has_body=True).json()
            assert values.cache_key(name, item) == answer["cache_key"], f"{item!r}: {values.canonical(item)}"
    finally:
        unregister_hook(name)


def test_numpy_arrays_are_keyed_by_content_and_results_cross_as_lists(name):
    numpy = pytest.importorskip("numpy")
    model = Model(lambda x: x * 2)
    first = cached_inference(model.encode, numpy.array([[1.0, 2.5], [3.0, 4.0]]), cache_prefix=name)
    assert first == [[2.0, 5.0], [6.0, 8.0]]
    # The same content as another array, or as plain lists, is the same entry.
    assert cached_inference(model.encode, numpy.array([[1, 2.5], [3, 4]], dtype=numpy.float32), cache_prefix=name) == first
    assert cached_inference(model.encode, [[1, 2.5], [3, 4]], cache_prefix=name) == first
    assert model.calls == 1
    assert values.cache_key(name, numpy.float64(0.1)) == values.cache_key(name, 0.1)


def test_raw_bytes_are_keyed_by_content_and_never_share_a_key_with_a_json_input(name):
    model = Model(lambda x: len(x))
    assert cached_inference(model.encode, b"\x89PNG image", cache_prefix=name) == 10
    assert cached_inference(model.encode, bytearray(b"\x89PNG image"), cache_prefix=name) == 10
    assert model.calls == 1
    assert cached_inference(model.encode, b"other", cache_prefix=name) == 5
    assert model.calls == 2
    # Text with the same characters is another input, as it is for the service.
    assert values.cache_key(name, b"text") != values.cache_key(name, "text")
    assert values.cache_key(name, b"") != values.cache_key(name, "")


def test_a_result_cached_by_one_process_is_a_hit_in_another(name, service):
    model = Model()
    assert cached_inference(model.encode, "shared", cache_prefix=name) == [6, "shared"]
    # The other process configures nothing: it reads HORNBEAM_URL and HORNBEAM_API_KEY.
    other = (f"from hornbeam_ml import cached_inference\n"
             f"print(cached_inference(lambda x: 'computed again', 'shared', cache_prefix={name!r}))")
    env = dict(os.environ, HORNBEAM_URL=service, HORNBEAM_API_KEY=API_KEY, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", other], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[6, 'shared']"
    assert counts(cache_stats(name)) == {"hits": 1, "misses": 1, "total": 2, "hit_rate": 0.5}


def test_entries_are_the_services_own_shared_with_its_cached_route(name, hook_endpoint):
    # POST /ml/cached runs a hook on a miss; here the HTTP echo hook, which answers what it got.
    register_hook(name, f"{hook_endpoint}/{name}")
    try:
        model = Model()
        mine = cached_inference(model.encode, {"doc": name}, cache_prefix=name)
        answer = transport.request("POST", f"/ml/cached/{name}/echo", body={"input": {"doc": name}, "cache_prefix": name},
                                   has_body=True).json()
        assert answer["cached"] is True and answer["result"] == mine
        assert answer["cache_key"] == values.cache_key(name, {"doc": name})

        theirs = transport.request("POST", f"/ml/cached/{name}/echo", body={"input": "from the hook", "cache_prefix": name},
                                   has_body=True).json()
        assert theirs["cached"] is False
        assert cached_inference(model.encode, "from the hook", cache_prefix=name) == theirs["result"]
        assert model.calls == 1
        assert counts(cache_stats(name)) == {"hits": 2, "misses": 2, "total": 4, "hit_rate": 0.5}
    finally:
        unregister_hook(name)


WORKER = """
import json, os, pathlib, sys, time
from hornbeam_ml import cached_inference

calls, gate, prefix = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]

def model(x):
    with open(calls, "a") as f:
        f.write(f"{os.getpid()}\\n")
    # Holds the claim until the test has seen the other process waiting (polled, with a deadline).
    deadline = time.monotonic() + 60
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"computed_by": os.getpid(), "input": x}

print(json.dumps(cached_inference(model, {"same": "input"}, cache_prefix=prefix)))
"""


def subscribed_channels(cluster, pattern):
    out = subprocess.run([shutil.which("redis-cli") or "redis-cli", "-p", str(cluster.port_of_redis), "PUBSUB", "CHANNELS",
                          pattern], capture_output=True, text=True, timeout=10)
    return [line for line in out.stdout.splitlines() if line]


def test_two_processes_missing_one_input_at_once_compute_once(name, service, cluster, tmp_path):
    calls, gate = tmp_path / "calls", tmp_path / "gate"
    env = dict(os.environ, HORNBEAM_URL=service, HORNBEAM_API_KEY=API_KEY, PYTHONPATH=os.pathsep.join(sys.path))
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(calls), str(gate), name], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        # One process holds the claim and computes; the other waits on the service, subscribed to the key's channel.
        wait_until(lambda: calls.exists() and calls.read_text(), 60, "one process runs the model")
        wait_until(lambda: subscribed_channels(cluster, f"*{{ml:{name}}}:done:*"), 60, "the other process waits for it")
        gate.touch()
        outputs = [w.communicate(timeout=60) for w in workers]
    finally:
        for w in workers:
            w.kill()
    assert all(w.returncode == 0 for w in workers), [err for _, err in outputs]
    results = [json.loads(out) for out, _ in outputs]
    assert results[0] == results[1] == {"computed_by": int(calls.read_text().split()[0]), "input": {"same": "input"}}
    assert len(calls.read_text().split()) == 1
    assert counts(cache_stats(name)) == {"hits": 1, "misses": 1, "total": 2, "hit_rate": 0.5}


def test_a_key_without_the_invoke_scope_is_refused_before_fn_runs(name, service):
    hornbeam_client.configure(url=service, api_key=READ_ONLY_KEY)
    model = Model()
    with pytest.raises(HornbeamError) as raised:
        cached_inference(model.encode, "x", cache_prefix=name)
    assert raised.value.status == 403 and raised.value.kind == "forbidden"
    assert model.calls == 0
