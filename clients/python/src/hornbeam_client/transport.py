"""HTTP to one Hornbeam replica: a keep-alive connection per thread, JSON in and out, ProblemDetails as HornbeamError."""

import http.client
import json
import os
import select
import socket
import threading
import time
import urllib.parse

from . import values
from .errors import HornbeamConnectionError, HornbeamError

# Kestrel closes a keep-alive connection after 130 s idle; reconnecting well before avoids sending on a closing one.
_MAX_IDLE_SECONDS = 60.0


class Settings:
    def __init__(self, url, api_key, timeout):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the Hornbeam URL must be absolute http(s), e.g. http://localhost:5000; it was {url!r}")
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.base = parts.path.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def connect(self, timeout):
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=timeout)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn


_lock = threading.Lock()
_settings = None
_local = threading.local()


def _forget_connections():
    # A forked child must not read answers meant for its parent from an inherited socket: it opens its own.
    global _local
    _local = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_connections)


def configure(url=None, api_key=None, timeout=60.0):
    """Point this process at a replica (or a load balancer in front of several). Unset arguments fall back to
    ``HORNBEAM_URL`` (default ``http://localhost:5000``) and ``HORNBEAM_API_KEY``. ``timeout`` bounds each wait for
    an answer, in seconds, on top of a call's own ``timeout_ms``."""
    global _settings
    new = _from_environment(url, api_key, timeout)
    with _lock:
        _settings = new
    return new


def _from_environment(url=None, api_key=None, timeout=60.0):
    return Settings(url or os.environ.get("HORNBEAM_URL") or "http://localhost:5000",
                    api_key if api_key is not None else os.environ.get("HORNBEAM_API_KEY") or None, timeout)


def settings():
    """The settings ``configure`` set, else those of the environment (set once, by the first call that needs them)."""
    global _settings
    current = _settings
    if current is None:
        with _lock:
            if _settings is None:
                _settings = _from_environment()
            current = _settings
    return current


def quote(segment):
    """One path segment, every reserved character escaped: the service percent-decodes it exactly once."""
    if not isinstance(segment, str):
        raise TypeError(f"a key, topic or name is a str; {segment!r} is a {type(segment).__name__}")
    if not segment:
        raise ValueError("a key, topic or name may not be empty")
    return urllib.parse.quote(segment, safe="")


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return values.decode(self.body)


def _headers(s, has_body, accept="application/json"):
    headers = {"Accept": accept}
    if has_body:
        headers["Content-Type"] = "application/json"
    if s.api_key:
        headers["Authorization"] = f"Bearer {s.api_key}"
    return headers


def _connection(s, timeout):
    """This thread's connection to the configured replica, opened on first use and after it went idle."""
    entry = getattr(_local, "conn", None)
    if entry is not None:
        owner, conn, last_used = entry
        if owner is s and time.monotonic() - last_used < _MAX_IDLE_SECONDS and not _dropped(conn):
            conn.sock.settimeout(timeout)
            return conn, True
        conn.close()
        _local.conn = None
    try:
        conn = s.connect(timeout)
    except OSError as e:
        raise HornbeamConnectionError("unreachable", f"could not connect to {s.url}: {e}") from e
    return conn, False


def _dropped(conn):
    # An idle keep-alive socket that reads as ready has been closed by the server (or holds stray bytes): either way
    # it is not reused, so a request is not sent on a connection that is already gone (a replica that restarted).
    try:
        return bool(select.select([conn.sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def request(method, path, query=None, body=None, has_body=False, timeout_ms=None, replayable=None):
    """Sends one request and answers the Response of a 2xx; raises HornbeamError for any other answer (its
    ProblemDetails) and HornbeamConnectionError for none. ``replayable``: whether a request that failed on a reused
    connection may be sent again (a GET, PUT or DELETE, or a POST that changes nothing)."""
    s = settings()
    target = s.base + path
    if query:
        target += "?" + urllib.parse.urlencode(query)
    payload = values.encode(body) if has_body else None
    headers = _headers(s, has_body)
    timeout = s.timeout + (timeout_ms or 0) / 1000.0
    if replayable is None:
        replayable = method != "POST"
    for attempt in (1, 2):
        conn, reused = _connection(s, timeout)
        try:
            conn.request(method, target, body=payload, headers=headers)
            raw = conn.getresponse()
            data = raw.read()
        except (http.client.HTTPException, OSError) as e:
            conn.close()
            _local.conn = None
            # A reused connection the server closed while idle fails on its first request; a fresh one did not.
            # A POST that may have reached the server is never sent twice: the caller hears outcome-unknown instead.
            if reused and attempt == 1 and replayable and not isinstance(e, TimeoutError):
                continue
            raise HornbeamConnectionError("outcome-unknown",
                                          f"{method} {target}: the connection to {s.url} failed before the answer: {e}") from e
        if raw.will_close:
            conn.close()
            _local.conn = None
        else:
            _local.conn = (s, conn, time.monotonic())
        response = Response(raw.status, raw.headers, data)
        if raw.status >= 400:
            raise problem(response)
        return response
    raise AssertionError("unreachable")


def problem(response):
    try:
        details = json.loads(response.body) if response.body else {}
        if not isinstance(details, dict):
            details = {"detail": str(details)}
    except ValueError:
        details = {"detail": response.body.decode("utf-8", "replace")[:500]}
    details.setdefault("status", response.status)
    retry = response.headers.get("Retry-After") if response.headers is not None else None
    return HornbeamError(response.status, details, int(retry) if retry and retry.isdigit() else None)


# A refusal before the stream starts is a ProblemDetails: saying so lets the service write it (see docs/python.md).
_EVENTS = "text/event-stream, application/problem+json"


class EventStream:
    """A Server-Sent Events answer read on a connection of its own (a stream may be left half-read), as
    ``(event, data)`` pairs. ``close()`` may be called from another thread: it ends a read that is waiting."""

    def __init__(self, method, path, body=None, has_body=False):
        s = settings()
        self._conn = None
        self._closed = False
        try:
            conn = s.connect(s.timeout)
        except OSError as e:
            raise HornbeamConnectionError("unreachable", f"could not connect to {s.url}: {e}") from e
        self._conn = conn
        try:
            conn.request(method, s.base + path, body=values.encode(body) if has_body else None,
                         headers=_headers(s, has_body, accept=_EVENTS))
            self._response = conn.getresponse()
        except (http.client.HTTPException, OSError) as e:
            self.close()
            raise HornbeamConnectionError("outcome-unknown", f"{method} {path}: the connection to {s.url} failed: {e}") from e
        if self._response.status >= 400:
            data = self._response.read()
            self.close()
            raise problem(Response(self._response.status, self._response.headers, data))
        # Between events a stream may be quiet for as long as its handler takes.
        conn.sock.settimeout(None)

    def __iter__(self):
        return self

    def __next__(self):
        event, data = "message", []
        while True:
            try:
                line = self._response.readline() if not self._closed else b""
            except (http.client.HTTPException, OSError, ValueError, AttributeError) as e:
                if self._closed:
                    raise StopIteration from None
                raise HornbeamConnectionError("outcome-unknown", f"the stream broke off: {e}") from e
            if not line:
                self.close()
                raise StopIteration
            line = line.decode("utf-8").rstrip("\r\n")
            if not line:
                if data:
                    return event, "\n".join(data)
                event = "message"
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)

    def close(self):
        if self._closed:
            return
        self._closed = True
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if conn is not None:
            conn.close()
