"""Turns one bench/run.sh run into a markdown table and files it in docs/benchmarks.md.

usage: python3 report.py RESULTS_DIR DOC_PATH

RESULTS_DIR holds what run.sh wrote:
  runs.tsv         scenario <TAB> contender <TAB> round <TAB> wrk output file (relative), one line per measurement
  redis-benchmark.csv  (optional) redis-benchmark --csv output, the Redis floor for INCR and GET
  meta.env         key=value lines: date, command, settings, machine, source
  notes.txt        (optional) one note per line, printed under the table
The new section goes at the top of the dated sections, below the file's heading and "How to run".
Standard library only.
"""
import csv
import re
import sys
from collections import OrderedDict
from pathlib import Path
from statistics import mean

CONTENDER_ORDER = ["hornbeam", "webdis", "noop", "redis-benchmark"]
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
DATED_SECTION = re.compile(r"^## \d{4}-\d{2}-\d{2}")

HEADER = """# Benchmarks

## How to run

`bash bench/run.sh` (needs the .NET SDK, python3, and `apt-get install redis-server webdis wrk curl`) builds Release
copies of `src/Hornbeam.Api` and of `bench/Noop` (a Kestrel endpoint that does nothing: the HTTP ceiling of our stack
on this machine), starts redis-server, one Hornbeam node, webdis and Noop on free loopback ports, measures each
scenario with wrk in alternating rounds (Hornbeam, webdis, Noop, then again) so drift on a shared machine hits every
contender alike, runs `redis-benchmark` as the Redis floor, and puts a dated section at the top of this file. It stops
everything it started when it ends, fails, times out or is interrupted, and takes about seven minutes on 2 cores.
Settings, as environment variables: `BENCH_DURATION` (wrk time per measurement, `8s`), `BENCH_CONNECTIONS` (32),
`BENCH_THREADS` (wrk threads, 2), `BENCH_ROUNDS` (2), `BENCH_WARMUP` (per contender and scenario, `2s`),
`BENCH_START_WARMUP` (per route, once after start-up, `4s`), `BENCH_KEYS` (filler keys behind the prefix listing,
1000000; 0 skips the fill), `BENCH_LIST_CONNECTIONS` (1), `BENCH_DOC` (where to write, this file). Raw wrk output
and server logs stay in `bench/out/results/<time>/`. Compare ratios within one section: absolute figures move with
whatever else the machine is doing.
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


def render(table, meta: dict, notes: list[str]) -> str:
    out = [f"## {meta.get('date', '?')}", ""]
    out.append(f"Command: `{meta.get('command', 'bash bench/run.sh')}`  ")
    out.append(f"Settings: {meta.get('settings', '?')}  ")
    out.append(f"Machine: {meta.get('machine', '?')}  ")
    out.append(f"Software: {meta.get('software', '?')}  ")
    out.append(f"Source: {meta.get('source', '?')}")
    out.append("")
    out.append("| scenario | contender | req/s | p50 ms | p99 ms | Hornbeam/webdis | Hornbeam/noop | req/s per round |")
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    problems = []
    for scenario, contenders in table.items():
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
    out.append("")
    out.append("Ratios are throughput (req/s) of Hornbeam over the other contender in the same scenario, "
               "from the mean of the rounds; p50/p99 are means of the rounds' wrk percentiles.")
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
    section = render(collect(results), meta, notes)
    (results / "section.md").write_text(section)
    file_section(doc, section)
    print(section)


if __name__ == "__main__":
    main()
