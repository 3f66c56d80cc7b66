"""The hook worker: Python handlers served to the cluster (docs/python.md, "Hooks from Python"; the wire protocol is in
docs/protocol.md, "Hook workers").

The process connects out to a replica (``GET /hooks/workers``, a WebSocket; it never accepts a connection), registers
the app_paths it serves, and runs the invocations the replica pushes: each on a thread of its own, so a slow handler
holds up nothing else. One daemon thread per process holds the connection, answers pings, and reconnects with backoff
(registering every handler again) when the replica restarts or the connection breaks."""

import asyncio
import functools
import inspect
import json
import logging
import os
import random
import socket
import threading
import time

from . import transport, values
from .errors import PROBLEM_PREFIX, HornbeamConnectionError, HornbeamError
from .websocket import Closed, WebSocket

log = logging.getLogger("hornbeam_client.worker")

_PATH = "/hooks/workers"
_BACKOFF_FIRST, _BACKOFF_MAX = 0.1, 5.0


def _problem(kind, detail, status=None):
    problem = {"type": PROBLEM_PREFIX + kind, "detail": detail}
    if status is not None:
        problem["status"] = status
    return problem


class _Handler:
    """A registered handler: a function ``handler(action, *args, **kwargs)``, a class (instantiated once, at
    registration, then the method named after the action) or an instance (the method named after the action)."""

    def __init__(self, app_path, handler):
        self.app_path = app_path
        if inspect.isclass(handler):
            self.kind, self.target = "class", handler()
        elif inspect.isroutine(handler) or isinstance(handler, functools.partial) or \
                (callable(handler) and not _has_public_methods(handler)):
            self.kind, self.target = "function", handler
        else:
            self.kind, self.target = "instance", handler

    def resolve(self, action, args, kwargs):
        """The callable and its arguments for ``action``; an unknown action or arguments it cannot take raise
        HornbeamError (not-found, invalid-input) before anything runs."""
        if self.kind == "function":
            fn, call_args = self.target, (action, *args)
        else:
            method = None if action.startswith("_") else getattr(self.target, action, None)
            if method is None or not callable(method):
                raise HornbeamError(404, _problem("not-found", f"Hook '{self.app_path}' has no action '{action}': "
                                                  f"{type(self.target).__name__} has no method {action}.", 404))
            fn, call_args = method, tuple(args)
        try:
            inspect.signature(fn).bind(*call_args, **kwargs)
        except TypeError as e:
            raise HornbeamError(400, _problem("invalid-input", f"Hook '{self.app_path}' action '{action}': {e}", 400)) from None
        except ValueError:
            pass  # no signature to check (a builtin): the call itself says
        return fn, call_args


def _has_public_methods(obj):
    return any(not name.startswith("_") and callable(getattr(obj, name, None)) for name in dir(type(obj)))


def _is_stream(value):
    if isinstance(value, (str, bytes, bytearray, dict)):
        return False
    return inspect.isgenerator(value) or inspect.isasyncgen(value) or isinstance(value, (list, tuple)) or \
        hasattr(value, "__next__")


def _iterate(value):
    """Items of a sync or async iterable, one by one, on the calling thread."""
    if inspect.isasyncgen(value):
        loop = asyncio.new_event_loop()
        try:
            while True:
                try:
                    yield loop.run_until_complete(value.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            loop.run_until_complete(value.aclose())
            loop.close()
    else:
        yield from value


class _Call:
    """One invocation in flight: a stream's credit, and whether the caller went away."""

    def __init__(self, credit):
        self.credit = credit
        self.cancelled = False
        self.cond = threading.Condition()

    def add_credit(self, n):
        with self.cond:
            self.credit += n
            self.cond.notify_all()

    def cancel(self):
        with self.cond:
            self.cancelled = True
            self.cond.notify_all()

    def take_credit(self):
        """Waits for room for one more chunk; False when the call was cancelled (or its connection ended)."""
        with self.cond:
            while self.credit <= 0 and not self.cancelled:
                self.cond.wait()
            if self.cancelled:
                return False
            self.credit -= 1
            return True


class Worker:
    """The process's one worker connection and its handlers. ``register`` returns once the replica confirmed."""

    def __init__(self):
        self._lock = threading.Lock()
        self._handlers = {}
        self._waiting = {}      # app_path -> [threading.Event, answer message]
        self._calls = {}        # call id -> _Call, for the current connection
        self._ws = None
        self._ws_settings = None
        self._thread = None
        self._stopping = threading.Event()
        self.connected = threading.Event()
        self.node = None

    # --- registration ---------------------------------------------------------------------------------------------

    def register(self, app_path, handler, timeout):
        entry = _Handler(app_path, handler)
        with self._lock:
            self._handlers[app_path] = entry
            ack = self._waiting[app_path] = [threading.Event(), None]
            ws = self._ws
            self._ensure_thread()
            if ws is not None and self._ws_settings is not transport.settings():
                # configure() changed the URL or key since the connection opened: reconnect with the new one, which
                # registers every handler, this one included.
                ws.abort()
                ws = None
        if ws is not None:
            self._send_quietly(ws, {"type": "register", "app_path": app_path})
        answered = ack[0].wait(timeout)
        with self._lock:
            if self._waiting.get(app_path) is ack:
                del self._waiting[app_path]
            if not answered and self._handlers.get(app_path) is entry:
                del self._handlers[app_path]
        if not answered:
            raise HornbeamConnectionError("unreachable", f"register_hook({app_path!r}): no replica confirmed the "
                                          f"registration within {timeout} s ({transport.settings().url}{_PATH})")
        answer = ack[1]
        if answer.get("type") != "registered":
            with self._lock:
                if self._handlers.get(app_path) is entry:
                    del self._handlers[app_path]
            problem = answer.get("error") or {}
            raise HornbeamError(problem.get("status"), problem)

    def unregister(self, app_path, timeout):
        """Whether ``app_path`` was served here; the replica is told, and the hook leaves the cluster."""
        with self._lock:
            if self._handlers.pop(app_path, None) is None:
                return False
            ack = self._waiting[app_path] = [threading.Event(), None]
            ws = self._ws
        if ws is not None:
            self._send_quietly(ws, {"type": "unregister", "app_path": app_path})
            ack[0].wait(timeout)
        with self._lock:
            self._waiting.pop(app_path, None)
        return True

    def serving(self):
        with self._lock:
            return sorted(self._handlers)

    def _ensure_thread(self):  # under self._lock
        if self._thread is None or not self._thread.is_alive():
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="hornbeam-hook-worker", daemon=True)
            self._thread.start()

    def stop(self):
        self._stopping.set()
        with self._lock:
            ws = self._ws
        if ws is not None:
            ws.close(1000, "worker stopping")

    def wait(self, timeout=None):
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # --- the connection -------------------------------------------------------------------------------------------

    def _run(self):
        backoff = _BACKOFF_FIRST
        while not self._stopping.is_set():
            with self._lock:
                # Nothing to serve (every registration refused or removed): the thread ends; the next one starts it.
                if not self._handlers and not self._waiting:
                    self._thread = None
                    return
            settings = transport.settings()
            try:
                ws = WebSocket.connect(settings, _PATH, timeout=settings.timeout)
            except HornbeamError as e:
                log.warning("hook worker: cannot connect to %s: %s; retrying in %.1f s", settings.url, e, backoff)
                if e.status is not None and e.status < 500:
                    self._refuse_waiting(e.problem)
                self._stopping.wait(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            try:
                self._serve(ws, settings)
                backoff = _BACKOFF_FIRST
            except (Closed, OSError, ValueError) as e:
                if not self._stopping.is_set():
                    log.warning("hook worker: connection to %s ended: %s; reconnecting", settings.url, e)
            finally:
                ws.abort()
                self.connected.clear()
                with self._lock:
                    self._ws = None
                    calls, self._calls = self._calls, {}
                # The replica failed these calls when the connection went; their handlers stop at the next chunk.
                for call in calls.values():
                    call.cancel()
            self._stopping.wait(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, _BACKOFF_MAX)

    def _refuse_waiting(self, problem):
        with self._lock:
            waiting = list(self._waiting.values())
        for ack in waiting:
            ack[1] = {"type": "refused", "error": problem}
            ack[0].set()

    def _serve(self, ws, settings):
        welcome = self._read(ws, None)
        if welcome.get("event") == "error":
            # Access control refuses a WebSocket after its upgrade, with the ProblemDetails in a frame.
            raise self._refused(welcome)
        self.node = welcome.get("node")
        keep_alive = max(0.2, welcome.get("keep_alive_ms", 5000) / 1000.0)
        with self._lock:
            self._ws, self._ws_settings = ws, settings
            app_paths = list(self._handlers)
        for app_path in app_paths:
            ws.send_text(json.dumps({"type": "register", "app_path": app_path}))
        self.connected.set()
        ws.settimeout(keep_alive)
        while not self._stopping.is_set():
            try:
                message = self._read(ws, keep_alive)
            except socket.timeout:
                # Quiet: ping; a replica that sent nothing (not even its own pings) for three intervals is gone.
                if time.monotonic() - ws.last_frame > 3 * keep_alive:
                    raise Closed(None, f"no frame from the replica for {3 * keep_alive:.1f} s") from None
                ws.ping()
                continue
            self._dispatch(ws, message)

    def _refused(self, frame):
        problem = {k: v for k, v in frame.items() if k != "event"}
        self._refuse_waiting(problem)
        error = HornbeamError(problem.get("status"), problem)
        self._stopping.wait(1.0)
        return Closed(None, str(error))

    @staticmethod
    def _read(ws, timeout):
        text = ws.receive()
        message = json.loads(text)
        if not isinstance(message, dict):
            raise ValueError(f"a frame that is not a JSON object: {text[:200]}")
        return message

    def _dispatch(self, ws, message):
        kind = message.get("type")
        if kind in ("registered", "refused", "unregistered"):
            app_path = message.get("app_path")
            with self._lock:
                ack = self._waiting.pop(app_path, None)
            if ack is not None:
                ack[1] = message
                ack[0].set()
            elif kind == "refused":
                log.warning("hook worker: the replica refused hook %r: %s", app_path, (message.get("error") or {}).get("detail"))
                with self._lock:
                    self._handlers.pop(app_path, None)
        elif kind in ("execute", "stream"):
            call = _Call(message.get("window", 0))
            with self._lock:
                self._calls[message.get("id")] = call
                handler = self._handlers.get(message.get("app_path"))
            threading.Thread(target=self._invoke, args=(ws, handler, message, call), daemon=True,
                             name=f"hornbeam-hook-{message.get('app_path')}-{message.get('action')}").start()
        elif kind == "credit":
            call = self._calls.get(message.get("id"))
            if call is not None:
                call.add_credit(int(message.get("chunks", 0)))
        elif kind == "cancel":
            with self._lock:
                call = self._calls.pop(message.get("id"), None)
            if call is not None:
                call.cancel()
        elif kind == "error":
            log.warning("hook worker: the replica reported: %s", (message.get("error") or {}).get("detail"))

    # --- invocations ----------------------------------------------------------------------------------------------

    def _invoke(self, ws, handler, message, call):
        call_id, action = message.get("id"), message.get("action")
        app_path = message.get("app_path")
        streaming = message.get("type") == "stream"
        try:
            if handler is None:
                raise HornbeamError(404, _problem("not-found", f"This worker no longer serves hook '{app_path}'.", 404))
            fn, args = handler.resolve(action, message.get("args") or [], message.get("kwargs") or {})
            result = fn(*args, **(message.get("kwargs") or {}))
            if inspect.iscoroutine(result):
                result = asyncio.run(result)
            if streaming:
                self._stream(ws, call_id, call, result if _is_stream(result) else [result])
            else:
                if _is_stream(result):
                    result = list(_iterate(result))
                self._reply(ws, call, {"type": "result", "id": call_id, "result": values.plain(result)})
        except HornbeamError as e:
            self._reply(ws, call, {"type": "error", "id": call_id, "error": e.problem})
        except Exception as e:  # noqa: BLE001 - a handler's failure of any kind is the caller's handler-failed
            detail = f"Hook '{app_path}' action '{action}' failed: {type(e).__name__}: {e}"
            self._reply(ws, call, {"type": "error", "id": call_id, "error": _problem("handler-failed", detail, 500)})
        finally:
            with self._lock:
                # Ids restart on a new connection: only this call's own entry is removed.
                if self._calls.get(call_id) is call:
                    del self._calls[call_id]

    def _stream(self, ws, call_id, call, result):
        items = _iterate(result)
        try:
            for item in items:
                if not call.take_credit():
                    return
                self._send(ws, {"type": "chunk", "id": call_id, "data": values.plain(item)})
            self._reply(ws, call, {"type": "done", "id": call_id})
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator left early runs its finally blocks (GeneratorExit)
            inner = getattr(result, "close", None)
            if inner is not None and call.cancelled and inspect.isgenerator(result):
                inner()

    def _reply(self, ws, call, message):
        if not call.cancelled:
            self._send_quietly(ws, message)

    def _send(self, ws, message):
        ws.send_text(values.encode(message).decode("utf-8"))

    def _send_quietly(self, ws, message):
        try:
            self._send(ws, message)
        except (OSError, TypeError, ValueError) as e:
            if isinstance(e, (TypeError, ValueError)) and "id" in message:
                # The result cannot cross as JSON: the caller hears why instead of waiting.
                error = _problem("handler-failed", f"the handler's answer cannot cross as JSON: {e}", 500)
                self._send_quietly(ws, {"type": "error", "id": message["id"], "error": error})
            # OSError: the connection broke; the replica fails the call.


_worker = None
_worker_lock = threading.Lock()


def worker():
    """The process's worker, created on first use (not started until a handler is registered)."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = Worker()
        return _worker


def _forget_worker():
    # A forked child does not inherit the parent's connection thread; it starts its own if it registers handlers.
    global _worker
    _worker = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_worker)


def serve_forever():
    """Blocks while this process serves its registered handlers (the worker thread is a daemon, so a program that
    only serves hooks calls this last). Returns after ``stop()`` or KeyboardInterrupt."""
    w = worker()
    try:
        while w._thread is not None and w._thread.is_alive():
            w.wait(1.0)
    except KeyboardInterrupt:
        w.stop()


def stop():
    """Closes the worker connection: every hook this process serves leaves the cluster."""
    with _worker_lock:
        w = _worker
    if w is not None:
        w.stop()
