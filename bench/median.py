#!/usr/bin/env python3
"""Median of several bench/load.sh tables, cell by cell (rps, p50, p99, CPU, RSS, errors).

usage: median.py TABLE.md TABLE.md TABLE.md [...]  > MEDIAN.md

Each TABLE.md is a docs/bench/load-table.md written by one run (OUT_DIR=... bench/load.sh).
The ratio column is recomputed from the median rps of both servers.
"""
import statistics
import sys

runs = []
for path in sys.argv[1:]:
    rows = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[0] not in ("endpoint", "---"):
            rows[(cells[0], cells[1])] = cells[2:8]
    runs.append(rows)
if len(runs) < 2:
    sys.exit("give two or more tables")


def median(values):
    numbers = [float(v.replace(",", "")) for v in values if v not in ("-", "")]
    return statistics.median(numbers) if numbers else None


keys = [k for k in runs[0] if all(k in r for r in runs)]
medians = {k: [median([r[k][i] for r in runs]) for i in range(6)] for k in keys}
print(f"Median of {len(runs)} runs, each cell on its own.\n")
print("| endpoint | server | rps | p50 ms | p99 ms | CPU ms/req | peak RSS MiB | errors | × peer rps |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
for endpoint, server in keys:
    rps, p50, p99, cpu, rss, errors = medians[(endpoint, server)]
    peer = medians.get((endpoint, "peer"))
    ratio = f"{rps / peer[0]:.1f}×" if server == "mcp-authd" and peer and peer[0] else ""
    fmt = lambda v, spec: "-" if v is None else format(v, spec)
    print(
        f"| {endpoint} | {server} | {fmt(rps, ',.0f')} | {fmt(p50, '.2f')} | {fmt(p99, '.2f')} "
        f"| {fmt(cpu, '.3f')} | {fmt(rss, '.1f')} | {fmt(errors, '.0f')} | {ratio} |"
    )
