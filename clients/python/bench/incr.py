"""The Python client's overhead: state_incr against a bare http.client loop on the same route, over one connection and
from 8 threads (a connection each). Needs a running service at HORNBEAM_URL (and HORNBEAM_API_KEY when it has keys).

    python3 clients/python/bench/incr.py [seconds per measurement, default 5] [rounds, default 2]
"""

import http.client
import os
import sys
import threading
import time
import urllib.parse
import uuid

import hornbeam_client
from hornbeam_erlang import state_delete, state_incr

THREADS = 8


def bare(key):
    """A loop a user would write without the package: one keep-alive connection, one POST per increment."""
    url = urllib.parse.urlsplit(os.environ.get("HORNBEAM_URL", "http://localhost:5000"))
    conn = http.client.HTTPConnection(url.hostname, url.port or 80)
    headers = {"Authorization": f"Bearer {os.environ['HORNBEAM_API_KEY']}"} if os.environ.get("HORNBEAM_API_KEY") else {}
    path = f"/state/incr/{urllib.parse.quote(key, safe='')}"

    def incr():
        conn.request("POST", path, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}")
    return incr


def client(key):
    return lambda: state_incr(key)


def measure(make, threads, seconds):
    """Calls per second of ``threads`` threads, each calling its own ``make(key)()`` in a loop for ``seconds``, and the
    CPU time this process spent per call (client-side cost; wall time on a shared machine is mostly the neighbours')."""
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    stop = time.monotonic() + seconds + 0.5

    def work(i):
        call = make(f"bench:py:{uuid.uuid4().hex}")
        call()  # connects before the clock starts
        start.wait()
        n = 0
        while time.monotonic() < stop:
            call()
            n += 1
        counts[i] = n
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    began, cpu = time.monotonic(), time.process_time()
    for w in workers:
        w.join()
    calls = sum(counts)
    return calls / (time.monotonic() - began), (time.process_time() - cpu) / calls * 1e6


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    hornbeam_client.configure()
    state_delete("bench:py:warm")
    measure(client, 1, 1.0)
    results = {}
    for _ in range(rounds):
        for threads in (1, THREADS):
            for name, make in (("http.client", bare), ("state_incr", client)):
                results.setdefault((threads, name), []).append(measure(make, threads, seconds))
    # The best round of each: on a shared machine the slower rounds measure the neighbours.
    print("| threads | bare http.client (req/s) | state_incr (calls/s) | state_incr / bare | CPU µs per call (bare; state_incr) |")
    print("| --- | --- | --- | --- | --- |")
    for threads in (1, THREADS):
        b, c = results[(threads, "http.client")], results[(threads, "state_incr")]
        rate_b, rate_c = max(r for r, _ in b), max(r for r, _ in c)
        cpu_b, cpu_c = min(u for _, u in b), min(u for _, u in c)
        print(f"| {threads} | {rate_b:,.0f} | {rate_c:,.0f} | {rate_c / rate_b:.2f} | {cpu_b:.0f}; {cpu_c:.0f} |")


if __name__ == "__main__":
    main()
