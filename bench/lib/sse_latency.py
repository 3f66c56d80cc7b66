"""Publish-to-receive latency of Hornbeam pub/sub over SSE, with many subscribers spread over several nodes.

usage: python3 sse_latency.py --nodes http://127.0.0.1:P1,http://127.0.0.1:P2 --topic T --subscribers 1000
                              --messages 200 --rate 20 --rss-pid PID --out result.json [--api-key KEY]

Opens SUBSCRIBERS raw-socket SSE streams (GET /pubsub/T, round-robin over the nodes) and waits until each has had its
`event: subscribed`; then a second process publishes MESSAGES messages at RATE per second (round-robin over the nodes),
each carrying its send time (time.time_ns()), and every stream records receive time minus send time. One epoll loop
reads every socket, so the figures include this client's own queueing: they are an upper bound. RSS-PID is a node
whose VmRSS is read idle (before any stream opens) and with its share of the streams open, for memory per connection.
Standard library only; everything is bounded in time and the result is one JSON object.
"""
import argparse
import json
import multiprocessing
import re
import selectors
import socket
import sys
import time
from http.client import HTTPConnection
from statistics import median
from urllib.parse import urlsplit

SEND_TIME = re.compile(rb'"t":(\d+),"i":(\d+)')


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def publish(nodes, topic, messages, rate, api_key, out_queue, warmup=0):
    conns = [HTTPConnection(u.hostname, u.port, timeout=10) for u in nodes]
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["X-Api-Key"] = api_key
    subscribers = []
    start = time.monotonic()
    for k in range(warmup + messages):
        delay = start + k / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        conn = conns[k % len(conns)]
        i = k - warmup  # warm-up messages carry a negative index, which the receivers do not count
        body = json.dumps({"t": time.time_ns(), "i": i}, separators=(",", ":"))
        conn.request("POST", f"/pubsub/{topic}", body=body, headers=headers)
        resp = conn.getresponse()
        answer = resp.read()
        if resp.status != 200:
            out_queue.put({"error": f"publish {i} answered {resp.status}: {answer[:200]!r}"})
            return
        if i >= 0:
            subscribers.append(json.loads(answer)["subscribers"])
    out_queue.put({"subscribers_min": min(subscribers), "subscribers_max": max(subscribers),
                   "publish_seconds": time.monotonic() - start})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--subscribers", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--warmup", type=int, default=0, help="messages published first and not counted")
    ap.add_argument("--rss-pid", type=int, required=True)
    ap.add_argument("--api-key", default="")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    nodes = [urlsplit(u) for u in args.nodes.split(",")]

    time.sleep(1)
    rss_idle = rss_kib(args.rss_pid)

    sel = selectors.DefaultSelector()
    streams = []
    key_header = f"X-Api-Key: {args.api_key}\r\n" if args.api_key else ""
    for i in range(args.subscribers):
        u = nodes[i % len(nodes)]
        s = socket.create_connection((u.hostname, u.port), timeout=10)
        # HTTP/1.0: the body is not chunked and runs until the server closes, so events can be read as they come.
        s.sendall(f"GET /pubsub/{args.topic} HTTP/1.0\r\nHost: {u.netloc}\r\nAccept: text/event-stream\r\n"
                  f"{key_header}\r\n".encode())
        s.setblocking(False)
        st = {"i": i, "sock": s, "buf": b"", "subscribed": False, "lat": [], "closed": False}
        streams.append(st)
        sel.register(s, selectors.EVENT_READ, st)

    first: dict[int, float] = {}  # per message, its earliest delivery: the least of this client's own queueing

    def pump(timeout: float) -> None:
        for key, _ in sel.select(timeout):
            st = key.data
            try:
                data = st["sock"].recv(65536)
            except BlockingIOError:
                continue
            now = time.time_ns()
            if not data:
                st["closed"] = True
                sel.unregister(st["sock"])
                continue
            buf = st["buf"] + data
            *events, st["buf"] = buf.split(b"\n\n")
            for ev in events:
                if not st["subscribed"]:
                    if b"event: subscribed" in ev:
                        st["subscribed"] = True
                    elif b" 200 " not in ev.split(b"\r\n", 1)[0] and ev.startswith(b"HTTP/"):
                        raise SystemExit(f"stream {st['i']}: {ev[:200]!r}")
                    continue
                if b"\ndata: " in b"\n" + ev or ev.startswith(b"data: "):
                    m = SEND_TIME.search(ev)
                    if m:
                        ms = (now - int(m.group(1))) / 1e6
                        st["lat"].append(ms)
                        i = int(m.group(2))
                        if ms < first.get(i, float("inf")):
                            first[i] = ms

    deadline = time.monotonic() + 60
    while not all(st["subscribed"] for st in streams):
        if time.monotonic() > deadline:
            n = sum(st["subscribed"] for st in streams)
            raise SystemExit(f"only {n} of {args.subscribers} streams subscribed within 60 s")
        pump(0.5)
    settle = time.monotonic() + 1
    while time.monotonic() < settle:
        pump(0.1)
    rss_open = rss_kib(args.rss_pid)
    per_node = sum(1 for i in range(args.subscribers) if i % len(nodes) == 0)

    queue: multiprocessing.Queue = multiprocessing.Queue()
    pub = multiprocessing.Process(target=publish, args=(nodes, args.topic, args.messages, args.rate, args.api_key, queue, args.warmup))
    cpu_start, wall_start = time.process_time(), time.monotonic()
    pub.start()
    expected = args.subscribers * args.messages
    deadline = time.monotonic() + (args.warmup + args.messages) / args.rate + 30
    while sum(len(st["lat"]) for st in streams) < expected and time.monotonic() < deadline:
        pump(0.2)
        if not pub.is_alive() and pub.exitcode not in (0, None):
            break
    client_cpu = (time.process_time() - cpu_start) / (time.monotonic() - wall_start)
    pub.join(10)
    published = queue.get(timeout=5) if not queue.empty() else {"error": "publisher gave no result"}
    rss_after = rss_kib(args.rss_pid)
    for st in streams:
        st["sock"].close()

    lat = sorted(x for st in streams for x in st["lat"])
    result = {
        "subscribers": args.subscribers, "nodes": len(nodes), "messages": args.messages, "rate": args.rate,
        "warmup_messages": args.warmup,
        "deliveries": len(lat), "expected": expected, "closed_streams": sum(st["closed"] for st in streams),
        "p50_ms": median(lat) if lat else None,
        "p90_ms": lat[int(0.90 * (len(lat) - 1))] if lat else None,
        "p99_ms": lat[int(0.99 * (len(lat) - 1))] if lat else None,
        "max_ms": lat[-1] if lat else None,
        "first_delivery_p50_ms": median(first.values()) if first else None,
        "client_cpu_share": client_cpu,
        "rss_idle_kib": rss_idle, "rss_open_kib": rss_open, "rss_after_kib": rss_after,
        "streams_on_rss_node": per_node,
        "kib_per_stream": (rss_open - rss_idle) / per_node,
        **published,
    }
    with open(args.out, "w") as f:
        json.dump(result, f)
    print(json.dumps(result))
    if "error" in published:
        sys.exit(1)


if __name__ == "__main__":
    main()
