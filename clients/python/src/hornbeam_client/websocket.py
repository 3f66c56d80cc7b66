"""A minimal RFC 6455 WebSocket client over socket/ssl (the standard library has none): the opening handshake, masked
text frames, ping/pong and close. Enough for the hook worker's connection (docs/protocol.md, "Hook workers")."""

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import threading
import time

from .errors import HornbeamConnectionError, HornbeamError

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class Closed(Exception):
    """The connection ended: the server's close frame (``code``, ``reason``), or the socket broke (``code`` None)."""

    def __init__(self, code=None, reason=""):
        super().__init__(f"closed ({code}): {reason}" if code else f"connection lost: {reason}")
        self.code = code
        self.reason = reason


class WebSocket:
    def __init__(self, sock):
        self._sock = sock
        self._send_lock = threading.Lock()
        self._buffer = b""
        self.last_frame = time.monotonic()

    @classmethod
    def connect(cls, settings, path, timeout):
        """Opens ``path`` on the configured replica with the API key as a bearer token; a refused handshake raises its
        ProblemDetails as HornbeamError, no connection HornbeamConnectionError('unreachable')."""
        try:
            raw = socket.create_connection((settings.host, settings.port), timeout=timeout)
        except OSError as e:
            raise HornbeamConnectionError("unreachable", f"could not connect to {settings.url}: {e}") from e
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if settings.https:
                raw = ssl.create_default_context().wrap_socket(raw, server_hostname=settings.host)
            key = base64.b64encode(os.urandom(16)).decode("ascii")
            default_port = 443 if settings.https else 80
            host = settings.host if settings.port == default_port else f"{settings.host}:{settings.port}"
            lines = [f"GET {settings.base}{path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
                     f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
            if settings.api_key:
                lines.append(f"Authorization: Bearer {settings.api_key}")
            raw.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            ws = cls(raw)
            status, headers, rest = ws._read_head()
            if status != 101:
                body = rest
                length = int(headers.get("content-length", "0") or 0)
                while len(body) < length:
                    chunk = raw.recv(length - len(body))
                    if not chunk:
                        break
                    body += chunk
                try:
                    problem = json.loads(body) if body else {}
                except ValueError:
                    problem = {"detail": body.decode("utf-8", "replace")[:500]}
                raw.close()
                raise HornbeamError(status, problem if isinstance(problem, dict) else {"detail": str(problem)})
            expected = base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")
            if headers.get("sec-websocket-accept") != expected:
                raw.close()
                raise HornbeamConnectionError("unreachable", f"{settings.url}{path} did not complete the WebSocket handshake")
            ws._buffer = rest
            return ws
        except OSError as e:
            raw.close()
            raise HornbeamConnectionError("unreachable", f"the WebSocket handshake with {settings.url} failed: {e}") from e

    def _read_head(self):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self._sock.recv(4096)
            if not chunk:
                raise OSError("the server closed the connection during the handshake")
            data += chunk
            if len(data) > 65536:
                raise OSError("the handshake's answer is too long")
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers, rest

    def settimeout(self, seconds):
        self._sock.settimeout(seconds)

    def send_text(self, text):
        self._send(TEXT, text.encode("utf-8"))

    def ping(self, payload=b""):
        self._send(PING, payload)

    def close(self, code=1000, reason=""):
        """Sends a close frame (best effort) and closes the socket; a reader blocked in ``receive`` gets Closed."""
        try:
            self._send(CLOSE, struct.pack("!H", code) + reason.encode("utf-8")[:120])
        except OSError:
            pass
        self.abort()

    def abort(self):
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()

    def _send(self, opcode, payload):
        # A client masks every frame (RFC 6455 5.3) with a fresh key.
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (length // 4 + 1))[:length], "big")).to_bytes(
            length, "big") if length else b""
        with self._send_lock:
            self._sock.sendall(head + mask + masked)

    def _exact(self, n):
        while len(self._buffer) < n:
            chunk = self._sock.recv(max(65536, n - len(self._buffer)))
            if not chunk:
                raise Closed(None, "the server closed the socket")
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def receive(self):
        """The next text message (str). Pings are answered, pongs skipped; a close frame is answered and raises Closed.
        A read timeout (``settimeout``) raises socket.timeout with no partial frame lost: frames are read whole."""
        parts, kind = [], None
        while True:
            # Wait for the first byte under the timeout; once a frame has begun, read it whole.
            if not self._buffer:
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise Closed(None, "the server closed the socket")
                self._buffer += chunk
            timeout = self._sock.gettimeout()
            self._sock.settimeout(None if timeout is None else max(timeout, 30.0))
            try:
                first, second = self._exact(2)
                length = second & 0x7F
                if length == 126:
                    length = struct.unpack("!H", self._exact(2))[0]
                elif length == 127:
                    length = struct.unpack("!Q", self._exact(8))[0]
                mask = self._exact(4) if second & 0x80 else None
                payload = self._exact(length)
            finally:
                self._sock.settimeout(timeout)
            self.last_frame = time.monotonic()
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode, fin = first & 0x0F, first & 0x80
            if opcode == PING:
                self._send(PONG, payload)
            elif opcode == PONG:
                continue
            elif opcode == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode("utf-8", "replace")
                try:
                    self._send(CLOSE, payload[:2])
                except OSError:
                    pass
                self.abort()
                raise Closed(code, reason)
            else:
                if opcode != CONTINUATION:
                    kind, parts = opcode, []
                parts.append(payload)
                if fin:
                    data = b"".join(parts)
                    if kind == TEXT:
                        return data.decode("utf-8")
