"""A Python worker's hook against the service's C# `demo` hook, both executed from Python in the same run: `execute`
of action `encode` (one string in, four numbers out), over one connection and from 8 threads (a connection each). The
worker is a second process that registers a function hook on the replica at HORNBEAM_URL, the one the calls go to, so
the difference is the worker's WebSocket round trip and its Python dispatch, not an RPC hop between replicas.
Needs a running service at HORNBEAM_URL (and HORNBEAM_API_KEY, with the admin scope, when it has keys).

    python3 clients/python/bench/hook.py [seconds per measurement, default 5] [rounds, default 2]
"""

import subprocess
import sys
import uuid

import hornbeam_client
import incr  # this folder's incr.py: its measuring loop
from hornbeam_erlang import execute

THREADS = 8

# The C# demo hook's encode answers four numbers; the worker answers as many.
WORKER = """
import sys
import hornbeam_client
from hornbeam_erlang import register_hook

def handler(action, *args, **kwargs):
    if action == "encode":
        return [0.173, 0.949, 0.302, 0.729]

register_hook(sys.argv[1], handler)
print("ready", flush=True)
hornbeam_client.serve_forever()
"""


def measure(app_path, threads, seconds):
    """Calls per second of ``threads`` threads, each calling ``execute(app_path, "encode", "hello")`` in a loop (incr.py's
    loop: each thread connects before the clock starts)."""
    return incr.measure(lambda _key: lambda: execute(app_path, "encode", "hello"), threads, seconds)[0]


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    hornbeam_client.configure()
    app_path = f"bench_py_{uuid.uuid4().hex[:8]}"
    worker = subprocess.Popen([sys.executable, "-c", WORKER, app_path], stdout=subprocess.PIPE, text=True)
    try:
        if worker.stdout.readline().strip() != "ready":
            raise SystemExit("the worker did not start")
        measure("demo", 1, 1.0)
        measure(app_path, 1, 1.0)
        results = {}
        for _ in range(rounds):
            for threads in (1, THREADS):
                for name in ("demo", app_path):
                    results.setdefault((threads, name), []).append(measure(name, threads, seconds))
    finally:
        worker.kill()
        worker.wait()
    # The best round of each: on a shared machine the slower rounds measure the neighbours.
    print("| threads | C# demo hook (calls/s) | Python worker hook (calls/s) | worker / C# |")
    print("| --- | --- | --- | --- |")
    for threads in (1, THREADS):
        cs, py = max(results[(threads, "demo")]), max(results[(threads, app_path)])
        print(f"| {threads} | {cs:,.0f} | {py:,.0f} | {py / cs:.2f} |")


if __name__ == "__main__":
    main()
