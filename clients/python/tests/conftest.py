"""One redis-server and one Development replica of the service for the whole run (starting .NET takes seconds), an
HTTP hook endpoint in this process, and a unique name per test so tests never share keys."""

import http.server
import json
import os
import re
import pathlib
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

import hornbeam_client

REPO = pathlib.Path(__file__).resolve().parents[3]
API_KEY = "python-tests-" + uuid.uuid4().hex
READ_ONLY_KEY = "python-tests-read-" + uuid.uuid4().hex


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout, what):
    """Polls ``condition`` until it answers something true, failing after ``timeout`` seconds (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(0.05)


class HookEndpoint(http.server.ThreadingHTTPServer):
    """An HTTP hook: POST {base}/{action} with {"args", "kwargs"}. ``echo`` answers what it got, ``words`` streams its
    first argument's words as Server-Sent Events, ``broken`` streams one chunk and then an error, ``fail`` answers 500."""

    daemon_threads = True


class HookHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        action = self.path.rsplit("/", 1)[-1]
        if action == "words":
            self._answer(200, "text/event-stream",
                         "".join(f"data: {json.dumps(w)}\n\n" for w in body["args"][0].split()) + "event: done\ndata: {}\n\n")
        elif action == "broken":
            self._answer(200, "text/event-stream", 'data: "first"\n\nevent: error\ndata: "the model fell over"\n\n')
        elif action == "fail":
            self._answer(500, "text/plain", "no")
        else:
            self._answer(200, "application/json", json.dumps({"action": action, **body}))

    def _answer(self, status, content_type, text):
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="session")
def hook_endpoint():
    server = HookEndpoint(("127.0.0.1", free_port()), HookHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class Replica:
    """One Development replica of the service (the built dll, else `dotnet run`) on a given redis-server, with two API
    keys (all scopes, and state:read only) and the hook endpoint allowed."""

    def __init__(self, redis_port, hook_endpoint, logs, node=None, port=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.node = node
        self._redis_port, self._hook_endpoint, self._logs = redis_port, hook_endpoint, logs
        self.process = None

    def start(self):
        env = dict(os.environ,
                   ASPNETCORE_ENVIRONMENT="Development",
                   ASPNETCORE_URLS=self.url,
                   ConnectionStrings__Redis=f"127.0.0.1:{self._redis_port}",
                   # Index 4: after the four hosts appsettings.Development.json allows.
                   Hornbeam__Webhooks__AllowedHosts__4=self._hook_endpoint.removeprefix("http://"),
                   Hornbeam__Auth__Keys__0__Name="tests", Hornbeam__Auth__Keys__0__Key=API_KEY,
                   **{f"Hornbeam__Auth__Keys__0__Scopes__{i}": s
                      for i, s in enumerate(["state:read", "state:write", "pubsub", "invoke", "admin"])},
                   Hornbeam__Auth__Keys__1__Name="reader", Hornbeam__Auth__Keys__1__Key=READ_ONLY_KEY,
                   Hornbeam__Auth__Keys__1__Scopes__0="state:read",
                   **({"Hornbeam__NodeName": self.node} if self.node else {}))
        dll = REPO / "src/Hornbeam.Api/bin/Debug/net10.0/Hornbeam.Api.dll"
        # CI builds the solution before this suite runs; from a clean checkout `dotnet run` builds it first.
        command = ["dotnet", str(dll)] if dll.exists() else ["dotnet", "run", "--no-launch-profile", "--project", str(dll.parents[3])]
        log = self._logs / f"api-{self.port}.log"
        self.process = subprocess.Popen(command, cwd=REPO / "src/Hornbeam.Api", env=env, stdout=open(log, "ab"),
                                        stderr=subprocess.STDOUT)

        def ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited with {self.process.returncode}; see {log}")
            try:
                with urllib.request.urlopen(self.url + "/health/ready", timeout=2) as r:
                    return r.status == 200
            except (urllib.error.URLError, OSError):
                return False
        wait_until(ready, 180, f"the service at {self.url} answers /health/ready")
        return self

    def stop(self, kill=False):
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture(scope="session")
def cluster(hook_endpoint, tmp_path_factory):
    """A redis-server and the first replica on it; ``cluster.replica(node)`` starts more on the same Redis."""
    logs = tmp_path_factory.mktemp("service")
    redis_port = free_port()
    redis = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", str(logs)],
                             stdout=open(logs / "redis.log", "wb"), stderr=subprocess.STDOUT)
    replicas = []

    class Cluster:
        # Tests that look at Redis itself (redis-cli) need its port.
        port_of_redis = redis_port

        @staticmethod
        def replica(node=None):
            replica = Replica(redis_port, hook_endpoint, logs, node)
            replicas.append(replica)
            return replica.start()

    try:
        Cluster.first = Cluster.replica()
        yield Cluster
    finally:
        for replica in replicas:
            replica.stop()
        redis.terminate()
        redis.wait(timeout=30)


@pytest.fixture(scope="session")
def service(cluster):
    """The URL of the first replica, which every test's calls go to unless it configures another."""
    return cluster.first.url


@pytest.fixture(autouse=True)
def client(service):
    hornbeam_client.configure(url=service, api_key=API_KEY)
    yield service


@pytest.fixture
def name(request):
    """A name no other test uses: every key, topic and hook of a test starts with it."""
    return f"py-{re.sub(r'[^A-Za-z0-9_.-]', '-', request.node.name)[:40]}-{uuid.uuid4().hex[:8]}"
