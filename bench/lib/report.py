"""Turns one bench run (bench/Hornbeam.Bench, behind bench/run.sh) into markdown tables and files them.

usage: python3 report.py RESULTS_DIR DOC_PATH

RESULTS_DIR holds what the run wrote:
  runs.tsv         scenario <TAB> contender <TAB> round <TAB> wrk output file (relative), one line per measurement
  redis-benchmark.csv  (optional) redis-benchmark --csv output, the Redis floor for INCR and GET
  meta.env         key=value lines: date, command, settings, machine, source
  notes.txt        (optional) one note per line, printed under the table
  baselines.tsv    (optional) scenario <TAB> contender: such scenarios go in a second table, as ratios to that contender
  sse.json         (optional) bench/SseLatency's result: the publish-to-receive table
The new section goes at the top of the dated sections of DOC_PATH (a new file starts with a short heading).
Standard library only.
"""
import csv
import json
import re
import sys
from collections import OrderedDict
from pathlib import Path
from statistics import mean

CONTENDER_ORDER = ["hornbeam", "webdis", "noop", "redis-benchmark"]
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
DATED_SECTION = re.compile(r"^## \d{4}-\d{2}-\d{2}")

HEADER = """# Benchmark runs

Filed by `bash bench/run.sh`; docs/benchmarks.md ("Method") says how to run it and what each row means.
"""


def to_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"unreadable wrk latency {text!r}")
    return float(m.group(1)) * UNIT_MS[m.group(2)]


def parse_wrk(path: Path) -> dict:
    text = path.read_text()
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    if not (rps and p50 and p99):
        raise ValueError(f"{path}: not a complete `wrk --latency` output")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    return {
        "rps": float(rps.group(1)),
        "p50": to_ms(p50.group(1)),
        "p99": to_ms(p99.group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": sum(int(g) for g in sock.groups()) if sock else 0,
    }


def read_meta(path: Path) -> dict:
    meta = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            meta[k.strip()] = v.strip()
    return meta


def fmt_rps(x: float) -> str:
    return f"{x:,.0f}"


def fmt_ms(x: float) -> str:
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def collect(results: Path) -> "OrderedDict[str, OrderedDict[str, dict]]":
    runs: OrderedDict[str, OrderedDict[str, list]] = OrderedDict()
    for line in (results / "runs.tsv").read_text().splitlines():
        if not line.strip():
            continue
        scenario, contender, _round, file = line.split("\t")
        runs.setdefault(scenario, OrderedDict()).setdefault(contender, []).append(parse_wrk(results / file))

    table: OrderedDict[str, OrderedDict[str, dict]] = OrderedDict()
    for scenario, contenders in runs.items():
        table[scenario] = OrderedDict()
        for contender, rounds in contenders.items():
            table[scenario][contender] = {
                "rps": mean(r["rps"] for r in rounds),
                "p50": mean(r["p50"] for r in rounds),
                "p99": mean(r["p99"] for r in rounds),
                "rounds": [r["rps"] for r in rounds],
                "non2xx": sum(r["non2xx"] for r in rounds),
                "errors": sum(r["errors"] for r in rounds),
            }

    floor = results / "redis-benchmark.csv"
    if floor.exists():
        for row in csv.DictReader(floor.open()):
            scenario = {"INCR": "INCR", "GET": "GET"}.get(row["test"].split()[0])
            if scenario in table:
                table[scenario]["redis-benchmark"] = {
                    "rps": float(row["rps"]), "p50": float(row["p50_latency_ms"]), "p99": float(row["p99_latency_ms"]),
                    "rounds": [], "non2xx": 0, "errors": 0,
                }
    return table


def render_baselined(table, baselines: dict, problems: list) -> list[str]:
    out = ["| scenario | contender | req/s | p50 ms | p99 ms | req/s ÷ baseline | p50 ÷ baseline | req/s per round |",
           "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for scenario, contenders in table.items():
        if scenario not in baselines:
            continue
        base = contenders[baselines[scenario]]
        for contender, r in contenders.items():
            is_base = contender == baselines[scenario]
            ratio = "(baseline)" if is_base else f"{r['rps'] / base['rps']:.2f}"
            p50_ratio = "" if is_base else f"{r['p50'] / base['p50']:.2f}"
            rounds = " / ".join(fmt_rps(x) for x in r["rounds"])
            out.append(f"| {scenario} | {contender} | {fmt_rps(r['rps'])} | {fmt_ms(r['p50'])} | {fmt_ms(r['p99'])} "
                       f"| {ratio} | {p50_ratio} | {rounds} |")
            if r["non2xx"] or r["errors"]:
                problems.append(f"{scenario} / {contender}: {r['non2xx']} non-2xx responses, {r['errors']} socket errors")
    out.append("")
    out.append("Ratios are to the scenario's baseline row, from the mean of the rounds (req/s) and of the rounds' wrk "
               "p50s.")
    out.append("")
    return out


def render_sse(sse: dict) -> list[str]:
    per = sse["streams_on_rss_node"]
    return [
        "| pub/sub over SSE | subscribers | nodes | messages | deliveries | p50 ms | p90 ms | p99 ms | max ms "
        "| node RSS idle → with streams | per stream |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
        f"| publish → receive ({sse['rate']:g} msg/s) | {sse['subscribers']:,} | {sse['nodes']} | {sse['messages']} "
        f"| {sse['deliveries']:,} of {sse['expected']:,} | {sse['p50_ms']:.2f} | {sse['p90_ms']:.2f} "
        f"| {sse['p99_ms']:.2f} | {sse['max_ms']:.2f} "
        f"| {sse['rss_idle_kib'] / 1024:.1f} → {sse['rss_open_kib'] / 1024:.1f} MiB ({per} streams) "
        f"| {sse['kib_per_stream']:.1f} KiB |",
        "",
        f"{sse.get('warmup_messages', 0)} uncounted messages went first (warm-up). "
        f"Publish answered `subscribers` between {sse.get('subscribers_min', '?')} and {sse.get('subscribers_max', '?')}; "
        f"{sse['closed_streams']} streams closed early. The median over messages of each message's *first* delivery "
        f"was {sse['first_delivery_p50_ms']:.2f} ms"
        + (f", and a publish (`POST /pubsub/{{topic}}`) took {sse['publish_p50_ms']:.2f} ms p50, {sse['publish_p99_ms']:.2f} ms p99"
           if sse.get("publish_p50_ms") is not None else "")
        + f". While the messages flowed the measuring client used {sse['client_cpu_share']:.0%} of a core"
        + (f" and the nodes together {sse['nodes_cpu_share']:.0%}" if sse.get("nodes_cpu_share") is not None else "")
        + ".",
        "",
    ]


def render(table, meta: dict, notes: list[str], baselines: dict | None = None, sse: dict | None = None) -> str:
    baselines = baselines or {}
    out = [f"## {meta.get('date', '?')}", ""]
    out.append(f"Command: `{meta.get('command', 'bash bench/run.sh')}`  ")
    out.append(f"Settings: {meta.get('settings', '?')}  ")
    out.append(f"Machine: {meta.get('machine', '?')}  ")
    out.append(f"Software: {meta.get('software', '?')}  ")
    out.append(f"Source: {meta.get('source', '?')}")
    out.append("")
    problems = []
    classic = [s for s in table if s not in baselines]
    if classic:
        out.append("| scenario | contender | req/s | p50 ms | p99 ms | Hornbeam/webdis | Hornbeam/noop | req/s per round |")
        out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for scenario, contenders in table.items():
        if scenario in baselines:
            continue
        hb = contenders.get("hornbeam")
        for contender in sorted(contenders, key=lambda c: CONTENDER_ORDER.index(c) if c in CONTENDER_ORDER else 99):
            r = contenders[contender]
            vs_webdis = vs_noop = ""
            if contender == "hornbeam":
                if "webdis" in contenders:
                    vs_webdis = f"{hb['rps'] / contenders['webdis']['rps']:.2f}"
                if "noop" in contenders:
                    vs_noop = f"{hb['rps'] / contenders['noop']['rps']:.2f}"
            rounds = " / ".join(fmt_rps(x) for x in r["rounds"]) if r["rounds"] else "(-n run)"
            out.append(f"| {scenario} | {contender} | {fmt_rps(r['rps'])} | {fmt_ms(r['p50'])} | {fmt_ms(r['p99'])} "
                       f"| {vs_webdis} | {vs_noop} | {rounds} |")
            if r["non2xx"] or r["errors"]:
                problems.append(f"{scenario} / {contender}: {r['non2xx']} non-2xx responses, {r['errors']} socket errors")
    if classic:
        out.append("")
        out.append("Ratios are throughput (req/s) of Hornbeam over the other contender in the same scenario, "
                   "from the mean of the rounds; p50/p99 are means of the rounds' wrk percentiles.")
        out.append("")
    if any(s in table for s in baselines):
        out.extend(render_baselined(table, baselines, problems))
    if sse:
        out.extend(render_sse(sse))
    for n in notes + problems:
        out.append(f"- {n}")
    out.append("")
    return "\n".join(out)


def file_section(doc: Path, section: str) -> None:
    text = doc.read_text() if doc.exists() else HEADER
    lines = text.rstrip("\n").split("\n")
    at = next((i for i, line in enumerate(lines) if DATED_SECTION.match(line)), None)
    if at is None:
        new = lines + [""] + section.rstrip("\n").split("\n")
    else:
        new = lines[:at] + section.rstrip("\n").split("\n") + [""] + lines[at:]
    doc.write_text("\n".join(new) + "\n")


def main() -> None:
    results, doc = Path(sys.argv[1]), Path(sys.argv[2])
    meta = read_meta(results / "meta.env")
    notes_file = results / "notes.txt"
    notes = [n for n in notes_file.read_text().splitlines() if n.strip()] if notes_file.exists() else []
    baselines_file = results / "baselines.tsv"
    baselines = dict(line.split("\t") for line in baselines_file.read_text().splitlines() if line.strip()) \
        if baselines_file.exists() else {}
    sse_file = results / "sse.json"
    sse = json.loads(sse_file.read_text()) if sse_file.exists() else None
    section = render(collect(results), meta, notes, baselines, sse)
    (results / "section.md").write_text(section)
    file_section(doc, section)
    print(section)


if __name__ == "__main__":
    main()
