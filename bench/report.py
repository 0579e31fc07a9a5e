#!/usr/bin/env python3
"""Turns bench/load.sh results (TSV) into a Markdown table and an SVG bar chart (no network).

usage: report.py RESULTS.tsv TABLE.md CHART.svg "run description"
RESULTS.tsv rows: round server endpoint rps p50_ms p99_ms cpu_ms_per_req peak_rss_mib errors

Each cell is the median of that row's rounds, taken on its own. Beside mcp-authd's rows:
its rate over the peer's (same row, same run), over the ceiling that bounds it (an axum
hello-world for metadata and JWKS, one ES256 signature for client_credentials, one
verification for introspection), and, for the grown rows, over the empty database's.
"""
import statistics
import sys
from collections import defaultdict
from html import escape

results, table_path, svg_path, meta = sys.argv[1:5]
cells = defaultdict(list)
order = []
for line in open(results):
    if not line.strip():
        continue
    _round, server, endpoint, *values = line.rstrip("\n").split("\t")
    cells[(server, endpoint)].append(values)
    if endpoint not in order:
        order.append(endpoint)


def median(column):
    numbers = [float(v) for v in column if v not in ("-", "")]
    return statistics.median(numbers) if numbers else None


data = {
    key: dict(zip(("rps", "p50", "p99", "cpu", "rss", "errors"), (median(c) for c in zip(*rows))))
    for key, rows in cells.items()
}
CEILING = {
    "metadata": "hello_world",
    "jwks": "hello_world",
    "client_credentials": "one_signature",
    "introspection": "one_verification",
}


def ratio(a, b, spec):
    return format(a["rps"] / b["rps"], spec) if a and b and a["rps"] and b["rps"] else ""


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


lines = [
    f"Run: {meta}",
    "",
    "| endpoint | server | rps | p50 ms | p99 ms | CPU ms/req | peak RSS MiB | errors "
    "| × peer | of ceiling | of empty |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for endpoint in order:
    for server in ("mcp-authd", "grown", "peer", "ceiling"):
        r = data.get((server, endpoint))
        if r is None:
            continue
        peer = ratio(r, data.get(("peer", endpoint)), ".1f") + "×" if server != "peer" else ""
        peer = "" if peer == "×" else peer
        ceiling = data.get(("ceiling", CEILING.get(endpoint, "")))
        of_ceiling = ratio(r, ceiling, ".0%") if server in ("mcp-authd", "grown") else ""
        of_empty = ratio(r, data.get(("mcp-authd", endpoint)), ".0%") if server == "grown" else ""
        lines.append(
            f"| {endpoint} | {server} | {fmt(r['rps'], ',.0f')} | {fmt(r['p50'], '.2f')} "
            f"| {fmt(r['p99'], '.2f')} | {fmt(r['cpu'], '.3f')} | {fmt(r['rss'], '.1f')} "
            f"| {fmt(r['errors'], '.0f')} | {peer} | {of_ceiling} | {of_empty} |"
        )
open(table_path, "w").write("\n".join(lines) + "\n")

# Grouped horizontal bars: rps per endpoint and server.
servers = [s for s in ("mcp-authd", "grown", "peer", "ceiling") if any(k[0] == s for k in data)]
W, bar_h, gap, left, top = 820, 16, 14, 250, 50
max_rps = max([r["rps"] or 0 for r in data.values()] + [1])
scale = (W - left - 150) / max_rps
bars = {ep: [s for s in servers if (s, ep) in data] for ep in order}
H = top + sum(len(b) * bar_h + gap for b in bars.values()) + 40
colors = {"mcp-authd": "#2f6fde", "grown": "#7aa5f0", "peer": "#b0b0b0", "ceiling": "#5bb07a"}
svg = [
    f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
    f'<rect width="{W}" height="{H}" fill="white"/>',
    '<text x="10" y="20" font-size="15" font-weight="bold">Requests per second, concurrency 50, loopback (higher is better)</text>',
    f'<text x="10" y="38" fill="#555" font-size="10">{escape(meta)}</text>',
]
y = top
for ep in order:
    svg.append(f'<text x="{left - 8}" y="{y + bar_h}" text-anchor="end">{escape(ep)}</text>')
    for i, server in enumerate(bars[ep]):
        r = data[(server, ep)]
        yy = y + i * bar_h
        w = max(1, (r["rps"] or 0) * scale)
        svg.append(f'<rect x="{left}" y="{yy}" width="{w:.1f}" height="{bar_h - 2}" fill="{colors[server]}"/>')
        svg.append(
            f'<text x="{left + w + 4:.1f}" y="{yy + 12}">{server} {r["rps"] or 0:,.0f} (p99 {fmt(r["p99"], ".2f")} ms)</text>'
        )
    y += len(bars[ep]) * bar_h + gap
for i, server in enumerate(servers):
    x = left + i * 110
    svg.append(f'<rect x="{x}" y="{H - 24}" width="12" height="12" fill="{colors[server]}"/>')
    svg.append(f'<text x="{x + 16}" y="{H - 14}">{server}</text>')
svg.append("</svg>")
open(svg_path, "w").write("\n".join(svg) + "\n")
