"""Hooks, tasks and streams: the seed's register_hook/hook, unregister_hook/unhook, execute, execute_async, await_result,
stream and stream_async, against the Development sample hook `demo` and an HTTP hook served by conftest."""

import asyncio

import pytest

from hornbeam_client import HornbeamError
from hornbeam_erlang import (await_result, execute, execute_async, hook, register_hook, stream, stream_async, unhook,
                             unregister_hook)


def test_execute_answers_the_action_result():
    vector = execute("demo", "encode", "hello")
    assert len(vector) == 4 and all(isinstance(x, float) for x in vector)
    assert execute("demo", "similarity", [1, 0], [1, 0]) == 1


def test_execute_passes_kwargs():
    assert execute("demo", "generate", "hi", max_tokens=2) == ["you", "said:"]


def test_execute_of_an_unknown_hook_or_action_raises_a_runtime_error(name):
    for app_path, action in ((name, "encode"), ("demo", "nothing_here")):
        with pytest.raises(RuntimeError) as raised:
            execute(app_path, action, "x")
        assert raised.value.status == 404 and raised.value.kind == "not-found"


def test_execute_with_a_failing_handler_raises_with_its_detail():
    with pytest.raises(HornbeamError) as raised:
        execute("demo", "similarity", [1, 2], [1])
    assert raised.value.status == 400 and "one length" in raised.value.detail


def test_execute_async_answers_a_task_id_that_await_result_resolves():
    task_id = execute_async("demo", "train", "dataset-1")
    assert isinstance(task_id, str) and task_id
    assert await_result(task_id, timeout_ms=60000) == {"dataset": "dataset-1", "epochs": 3, "loss": 0.042}


def test_await_result_past_its_timeout_raises_and_the_task_keeps_running():
    task_id = execute_async("demo", "train", "dataset-2")
    with pytest.raises(RuntimeError) as raised:
        await_result(task_id, timeout_ms=100)
    assert raised.value.kind == "timeout" and raised.value.problem["task_id"] == task_id
    assert await_result(task_id)["dataset"] == "dataset-2"


def test_await_result_of_a_failed_task_raises_its_problem(name, hook_endpoint):
    register_hook(name, f"{hook_endpoint}/{name}")
    try:
        task_id = execute_async(name, "fail")
        with pytest.raises(RuntimeError) as raised:
            await_result(task_id)
        assert raised.value.status == 502 and raised.value.kind == "bad-gateway"
        assert raised.value.problem["task_id"] == task_id and raised.value.problem["task_status"] == "failed"
    finally:
        unregister_hook(name)


def test_await_result_of_an_unknown_task_raises_not_found():
    with pytest.raises(HornbeamError) as raised:
        await_result("0" * 32, timeout_ms=0)
    assert raised.value.status == 404


def test_stream_yields_the_chunks_in_order():
    assert list(stream("demo", "generate", "hi", max_tokens=4)) == ["you", "said:", "hi", "and"]


def test_stream_left_early_closes_and_the_next_call_works():
    chunks = stream("demo", "generate", "hi")
    assert next(chunks) == "you"
    chunks.close()
    assert execute("demo", "encode", "a") == execute("demo", "encode", "a")


def test_stream_of_an_unknown_hook_raises_before_the_first_chunk(name):
    with pytest.raises(HornbeamError) as raised:
        stream(name, "generate")
    assert raised.value.status == 404


def test_stream_async_is_an_async_generator_of_the_chunks():
    async def collect():
        return [chunk async for chunk in stream_async("demo", "generate", "hi", max_tokens=3)]
    assert asyncio.run(collect()) == ["you", "said:", "hi"]


def test_stream_async_left_early_stops_the_stream():
    async def first():
        chunks = stream_async("demo", "generate", "hi")
        async for chunk in chunks:
            await chunks.aclose()
            return chunk
    assert asyncio.run(first()) == "you"


def test_an_http_hook_registered_by_url_runs_executes_and_streams_until_unregistered(name, hook_endpoint):
    hook(name, f"{hook_endpoint}/{name}")
    try:
        assert execute(name, "echo", 1, "two", flag=True) == {"action": "echo", "args": [1, "two"], "kwargs": {"flag": True}}
        assert list(stream(name, "words", "one two three")) == ["one", "two", "three"]
        assert await_result(execute_async(name, "echo", 5)) == {"action": "echo", "args": [5], "kwargs": {}}
    finally:
        unhook(name)
    with pytest.raises(HornbeamError) as raised:
        execute(name, "echo")
    assert raised.value.status == 404
    unregister_hook(name)  # removing a hook that is not registered is not an error


def test_an_http_hook_on_a_host_that_is_not_allowed_is_forbidden(name):
    with pytest.raises(HornbeamError) as raised:
        register_hook(name, "http://127.0.0.1:9/nowhere")
    assert raised.value.status == 403 and raised.value.kind == "forbidden"


def test_a_failure_mid_stream_raises_after_the_chunks_before_it(name, hook_endpoint):
    register_hook(name, f"{hook_endpoint}/{name}")
    try:
        got = []
        with pytest.raises(HornbeamError) as raised:
            for chunk in stream(name, "broken"):
                got.append(chunk)
        assert got == ["first"]
        assert raised.value.kind == "handler-failed" and "the model fell over" in raised.value.detail
    finally:
        unregister_hook(name)
