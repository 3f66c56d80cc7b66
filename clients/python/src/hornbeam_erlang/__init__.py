"""The seed's ``hornbeam_erlang`` module, each function over the REST route the README's "Seed functions at a glance"
table names. Values cross as JSON (docs/python.md); a refusal raises ``hornbeam_client.HornbeamError``, a
RuntimeError carrying the ProblemDetails."""

import asyncio
import builtins
import time

from hornbeam_client import transport, values, worker
from hornbeam_client.errors import PROBLEM_PREFIX, HornbeamError
from hornbeam_client.transport import quote

__all__ = [
    "state_get", "state_set", "state_delete", "state_incr", "state_decr", "state_get_multi", "state_keys",
    "get", "set", "delete", "incr", "decr",
    "rpc_call", "rpc_cast", "nodes", "node",
    "publish",
    "call", "cast",
    "register_hook", "unregister_hook", "hook", "unhook",
    "execute", "execute_async", "await_result",
    "stream", "stream_async",
]

_KEYS_PAGE = 1000
_MULTI_PAGE = 1000
# The service's largest single wait on a task (Hornbeam:Tasks:MaxWaitMilliseconds); longer waits ask again.
_MAX_TASK_WAIT_MS = 300000


# --- Shared state ---------------------------------------------------------------------------------------------------

def state_get(key):
    """The value of ``key``, or None when it is not set."""
    try:
        return transport.request("GET", f"/state/{quote(key)}").json()["value"]
    except HornbeamError as e:
        if e.status == 404 and e.kind == "not-found":
            return None
        raise


def state_set(key, value):
    """Sets ``key`` to ``value`` (any JSON value)."""
    transport.request("PUT", f"/state/{quote(key)}", body=value, has_body=True)


def state_delete(key):
    """Deletes ``key``; deleting a key that is not set is not an error."""
    transport.request("DELETE", f"/state/{quote(key)}")


def state_incr(key, delta=1):
    """Atomically adds ``delta`` to the counter ``key`` (a missing key counts from 0) and returns the new value;
    a value that is not a 64-bit integer raises HornbeamError (kind ``'conflict'``)."""
    return _counter("incr", key, delta)


def state_decr(key, delta=1):
    """Atomically subtracts ``delta`` from the counter ``key`` and returns the new value (no floor)."""
    return _counter("decr", key, delta)


def _counter(op, key, delta):
    if not isinstance(delta, int) or isinstance(delta, bool):
        raise TypeError(f"delta is an int; {delta!r} is a {type(delta).__name__}")
    return transport.request("POST", f"/state/{op}/{quote(key)}", query={"delta": delta}).json()["value"]


def state_get_multi(keys):
    """A dict mapping each key to its value, None for a key that is not set. More keys than one request takes
    (``Hornbeam:MaxMultiKeys``, 1000 by default) are read 1000 at a time: each batch is one snapshot, not the whole."""
    keys = list(keys)
    for key in keys:
        quote(key)
    found = {}
    unique = list(dict.fromkeys(keys))
    for i in range(0, len(unique), _MULTI_PAGE):
        batch = {"keys": unique[i:i + _MULTI_PAGE]}
        found.update(transport.request("POST", "/state/multi", body=batch, has_body=True, replayable=True).json()["values"])
    return {key: found.get(key) for key in keys}


def state_keys(prefix=None):
    """Every key (that starts with ``prefix``), in UTF-8 byte order, reading all pages of the listing."""
    if prefix is not None and not isinstance(prefix, str):
        raise TypeError(f"prefix is a str; {prefix!r} is a {type(prefix).__name__}")
    keys, cursor = [], None
    while True:
        query = {"limit": _KEYS_PAGE}
        if prefix:
            query["prefix"] = prefix
        if cursor:
            query["cursor"] = cursor
        page = transport.request("GET", "/state", query=query).json()
        keys.extend(page["keys"])
        cursor = page.get("cursor")
        if not cursor:
            return keys


get, set, delete, incr, decr = state_get, state_set, state_delete, state_incr, state_decr


# --- Distributed RPC ------------------------------------------------------------------------------------------------

def rpc_call(node, module, function, args, timeout_ms=5000):
    """Calls ``module:function(*args)`` on ``node`` and returns its result. A timeout (kind ``'timeout'``), an unknown
    or dead node (``'not-found'``, or ``'bad-gateway'`` when it died mid-call) and a failure on the node raise."""
    body = {"args": _args(args), "timeout_ms": timeout_ms}
    path = f"/rpc/{quote(node)}/{quote(module)}/{quote(function)}"
    return transport.request("POST", path, body=body, has_body=True, timeout_ms=timeout_ms).json()["result"]


def rpc_cast(node, module, function, args):
    """Sends ``module:function(*args)`` to ``node`` without waiting for it to run."""
    path = f"/rpc/{quote(node)}/{quote(module)}/{quote(function)}/cast"
    transport.request("POST", path, body={"args": _args(args)}, has_body=True)


def nodes():
    """The names of the other live nodes (the replica answering is ``node()``)."""
    return [n["node"] for n in transport.request("GET", "/nodes").json()["nodes"]]


def node():
    """The name of the replica that answers (behind a load balancer, whichever one that is)."""
    return transport.request("GET", "/node").json()["node"]


def _args(args):
    if isinstance(args, (str, bytes, dict)) or not hasattr(args, "__iter__"):
        raise TypeError(f"args is a list of arguments; {args!r} is a {type(args).__name__}")
    return list(args)


# --- Pub/sub --------------------------------------------------------------------------------------------------------

def publish(topic, message):
    """Publishes ``message`` (any JSON value) to ``topic``; returns how many subscribers, on every replica, it reached."""
    return transport.request("POST", f"/pubsub/{quote(topic)}", body=message, has_body=True).json()["subscribers"]


# --- Registered functions -------------------------------------------------------------------------------------------

def call(name, *args):
    """Calls the registered function ``name`` wherever it lives and returns its result."""
    return transport.request("POST", f"/functions/{quote(name)}/call", body={"args": list(args)}, has_body=True,
                             timeout_ms=5000).json()["result"]


def cast(name, *args):
    """Sends a call of ``name`` without waiting for it to run."""
    transport.request("POST", f"/functions/{quote(name)}/cast", body={"args": list(args)}, has_body=True)


# --- Hooks ----------------------------------------------------------------------------------------------------------

def register_hook(app_path, handler):
    """Serves ``handler`` to the cluster as hook ``app_path``: a function called as ``handler(action, *args,
    **kwargs)``, a class (instantiated once, here, then the method named after the action runs) or an instance (its
    method named after the action). This process connects out to the configured replica (a WebSocket it keeps open on a
    daemon thread, reconnecting by itself) and runs the calls any replica, C# or Python process sends; a generator
    streams its items. Returns once the replica confirmed; a C# hook of that name raises HornbeamError (``'conflict'``),
    and the key needs the ``admin`` scope. A ``str`` handler registers an HTTP hook at that URL instead."""
    if isinstance(handler, str):
        transport.request("PUT", f"/hooks/{quote(app_path)}", body={"url": handler}, has_body=True)
        return
    quote(app_path)
    if handler is None:
        raise TypeError("register_hook needs a function, class, instance or URL as handler, not None")
    worker.worker().register(app_path, handler, transport.settings().timeout)


def unregister_hook(app_path):
    """Stops serving ``app_path`` from this process (the hook leaves the cluster), or removes the HTTP hook
    ``app_path``; removing one that is not registered is not an error."""
    if worker.worker().unregister(app_path, transport.settings().timeout):
        return
    transport.request("DELETE", f"/hooks/{quote(app_path)}")


hook, unhook = register_hook, unregister_hook


def _hook_call(args, kwargs):
    return {"args": list(args), "kwargs": dict(kwargs)}


def execute(app_path, action, *args, **kwargs):
    """Runs ``action`` of hook ``app_path`` (C#, a worker's or HTTP, on whichever node has it) and returns its result; an unknown
    hook or action (kind ``'not-found'``) or a failing handler (``'handler-failed'``) raises HornbeamError."""
    path = f"/hooks/{quote(app_path)}/{quote(action)}"
    return transport.request("POST", path, body=_hook_call(args, kwargs), has_body=True).json()["result"]


def execute_async(app_path, action, *args, **kwargs):
    """Starts ``action`` as a task any replica can await; returns its id."""
    path = f"/hooks/{quote(app_path)}/{quote(action)}/async"
    return transport.request("POST", path, body=_hook_call(args, kwargs), has_body=True).json()["task_id"]


def await_result(task_id, timeout_ms=30000):
    """The result of task ``task_id``, waiting up to ``timeout_ms``. A failed task raises its HornbeamError (with
    ``problem['task_id']``); a task still running at the timeout raises kind ``'timeout'`` and keeps running."""
    deadline = time.monotonic() + max(timeout_ms, 0) / 1000.0
    while True:
        wait = max(0, min(_MAX_TASK_WAIT_MS, int((deadline - time.monotonic()) * 1000)))
        answer = transport.request("GET", f"/tasks/{quote(task_id)}", query={"timeout_ms": wait}, timeout_ms=wait)
        if answer.status == 200:
            return answer.json()["result"]
        if time.monotonic() >= deadline:
            raise HornbeamError(504, {
                "type": PROBLEM_PREFIX + "timeout", "title": "Task still running", "status": 504, "task_id": task_id,
                "detail": f"Task '{task_id}' was still running after {timeout_ms} ms; it keeps running, await it again."})


# --- Streaming ------------------------------------------------------------------------------------------------------

def stream(app_path, action, *args, **kwargs):
    """A generator of the chunks ``action`` streams. An unknown hook raises before the first chunk; a failure mid-stream
    raises HornbeamError where it happens. Leaving the loop early closes the stream (the handler is cancelled)."""
    events = _open_stream(app_path, action, args, kwargs)
    return _chunks(events)


def _open_stream(app_path, action, args, kwargs):
    return transport.EventStream("POST", f"/hooks/{quote(app_path)}/{quote(action)}/stream",
                                 body=_hook_call(args, kwargs), has_body=True)


def _chunks(events):
    try:
        for event, data in events:
            if event == "chunk":
                yield values.decode(data.encode("utf-8"))
            elif event == "done":
                return
            elif event == "error":
                problem = values.decode(data.encode("utf-8"))
                raise HornbeamError(problem.get("status"), problem)
        raise HornbeamError(None, {"type": PROBLEM_PREFIX + "outcome-unknown", "title": "Stream ended early",
                                   "detail": "The stream closed before its 'done' event."})
    finally:
        events.close()


async def stream_async(app_path, action, *args, **kwargs):
    """``stream`` as an async generator: the blocking reads run on a worker thread, so the event loop stays free."""
    loop = asyncio.get_running_loop()
    events = await loop.run_in_executor(None, _open_stream, app_path, action, args, kwargs)
    chunks = _chunks(events)
    done = object()
    try:
        while True:
            chunk = await loop.run_in_executor(None, builtins.next, chunks, done)
            if chunk is done:
                return
            yield chunk
    finally:
        # Closing the socket ends a read still waiting on the worker thread; the generator then finishes there.
        events.close()
