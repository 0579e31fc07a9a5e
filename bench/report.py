#!/usr/bin/env python3
"""Turns bench/load.sh results (TSV) into a Markdown table and an SVG bar chart (no network).

usage: report.py RESULTS.tsv TABLE.md CHART.svg "run description"
RESULTS.tsv rows: server endpoint rps p50_ms p99_ms cpu_ms_per_req peak_rss_mib errors
"""
import sys
from html import escape

results, table_path, svg_path, meta = sys.argv[1:5]
rows = [line.rstrip("\n").split("\t") for line in open(results) if line.strip()]
data = {}
order = []
for server, endpoint, rps, p50, p99, cpu, rss, errors in rows:
    data[(server, endpoint)] = dict(rps=float(rps or 0), p50=p50, p99=p99, cpu=cpu, rss=rss, errors=errors)
    if endpoint not in order:
        order.append(endpoint)

PEER_NAME = {
    "client_credentials": "client_credentials",
    "metadata": "metadata (peer: openid-configuration)",
    "jwks": "jwks",
    "introspection": "introspection (mcp-authd JWT, peer opaque)",
}

lines = [
    f"Run: {meta}",
    "",
    "| endpoint | server | rps | p50 ms | p99 ms | CPU ms/req | peak RSS MiB | errors | × peer rps |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
]
for ep in order:
    a = data.get(("mcp-authd", ep))
    p = data.get(("peer", ep))
    for server, r in (("mcp-authd", a), ("peer", p)):
        if r is None:
            continue
        ratio = ""
        if server == "mcp-authd" and p and p["rps"] > 0:
            ratio = f"{r['rps'] / p['rps']:.1f}×"
        lines.append(
            f"| {ep} | {server} | {r['rps']:,.0f} | {r['p50']} | {r['p99']} | {r['cpu']} | {r['rss']} | {r['errors']} | {ratio} |"
        )
open(table_path, "w").write("\n".join(lines) + "\n")

# Grouped horizontal bars: rps per endpoint, mcp-authd vs peer.
W, bar_h, gap, left, top = 760, 18, 16, 200, 50
max_rps = max([r["rps"] for r in data.values()] + [1])
scale = (W - left - 120) / max_rps
H = top + len(order) * (2 * bar_h + gap) + 40
colors = {"mcp-authd": "#2f6fde", "peer": "#b0b0b0"}
svg = [
    f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
    f'<rect width="{W}" height="{H}" fill="white"/>',
    f'<text x="10" y="20" font-size="15" font-weight="bold">Requests per second, concurrency 50, loopback (higher is better)</text>',
    f'<text x="10" y="38" fill="#555" font-size="10">{escape(meta)}</text>',
]
y = top
for ep in order:
    svg.append(f'<text x="{left - 8}" y="{y + bar_h + 4}" text-anchor="end">{escape(ep)}</text>')
    for i, server in enumerate(("mcp-authd", "peer")):
        r = data.get((server, ep))
        yy = y + i * bar_h
        if r is None:
            svg.append(f'<text x="{left + 4}" y="{yy + 13}" fill="#888">{server}: not measured</text>')
            continue
        w = max(1, r["rps"] * scale)
        svg.append(f'<rect x="{left}" y="{yy}" width="{w:.1f}" height="{bar_h - 2}" fill="{colors[server]}"/>')
        svg.append(
            f'<text x="{left + w + 4:.1f}" y="{yy + 13}">{server} {r["rps"]:,.0f} (p99 {r["p99"]} ms)</text>'
        )
    y += 2 * bar_h + gap
svg.append(f'<rect x="{left}" y="{H - 24}" width="12" height="12" fill="{colors["mcp-authd"]}"/>')
svg.append(f'<text x="{left + 16}" y="{H - 14}">mcp-authd</text>')
svg.append(f'<rect x="{left + 100}" y="{H - 24}" width="12" height="12" fill="{colors["peer"]}"/>')
svg.append(f'<text x="{left + 116}" y="{H - 14}">node-oidc-provider (peer)</text>')
svg.append("</svg>")
open(svg_path, "w").write("\n".join(svg) + "\n")
