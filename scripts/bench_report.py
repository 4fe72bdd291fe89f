"""Turns the RESULT lines of scripts/bench.sh into docs/BENCHMARKS.md: one table per
scenario with the median of the repeats, our ratio to each peer, and an SVG chart."""

import statistics
import subprocess
import sys
from collections import defaultdict

results_path, seconds, repeats = sys.argv[1], sys.argv[2], sys.argv[3]
runs = defaultdict(list)
for line in open(results_path):
    fields = dict(part.split("=", 1) for part in line.split())
    server, scenario = fields.pop("server"), fields.pop("scenario")
    key = (scenario, fields.get("payload") or fields.get("clients") or fields.get("connections"), fields.get("rate", ""))
    if scenario == "echo":
        key = ("echo", fields["payload"], "")
    runs[(key, server)].append(fields)

SERVERS = ["ferrosocket", "tungstenite", "node-ws", "fastwebsockets"]
PEERS = SERVERS[1:]


def median(key, server, field):
    values = [float(run[field]) for run in runs.get((key, server), []) if run.get(field) not in (None, "nan", "NaN")]
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def ratio(ours, theirs, higher_is_better=True):
    if ours is None or theirs in (None, 0) or ours == 0:
        return "–"
    return f"{(ours / theirs if higher_is_better else theirs / ours):.2f}×"


def machine():
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        cpu = "unknown CPU"
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {cores} cores"


out = []
out.append("# Benchmarks\n")
out.append("Produced by `scripts/bench.sh` (`make bench`); every figure is the median of "
           f"{repeats} runs of {seconds} s. Servers run pinned to core 0 and the load "
           "generator (`ferrosocket-loadgen`) to core 1, on loopback, one server at a time.\n")
out.append(f"Machine: {machine()}.\n")
out.append("Ratios are ours against the peer: above 1× we do better (more messages per second, "
           "or less server CPU per message). Server CPU time per message (utime + stime from "
           "/proc over the run) compares servers fairly even when the load generator, not the "
           "server, is the bottleneck — which it is on two cores.\n")

out.append("## Echo: 100 connections, closed loop\n")
out.append("| payload | server | msg/s | p50 ms | p99 ms | server CPU µs/msg | ours vs it: rate | ours vs it: CPU |")
out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
chart = []
for payload in ["20", "1024", "16384"]:
    key = ("echo", payload, "")
    ours_rate, ours_cpu = median(key, "ferrosocket", "rate"), median(key, "ferrosocket", "cpu_us_per_msg")
    for server in SERVERS:
        rate, cpu = median(key, server, "rate"), median(key, server, "cpu_us_per_msg")
        if rate is None:
            continue
        p50, p99 = median(key, server, "p50_us"), median(key, server, "p99_us")
        mine = server == "ferrosocket"
        out.append(f"| {payload} B | {server} | {fmt(rate)} | {fmt(p50 / 1000, 3)} | {fmt(p99 / 1000, 3)} | {fmt(cpu, 2)} | "
                   f"{'' if mine else ratio(ours_rate, rate)} | {'' if mine else ratio(ours_cpu, cpu, False)} |")
        chart.append((f"{payload} B", server, cpu or 0))
out.append("")

out.append("## Broadcast: one sender, N receivers in one room\n")
out.append("At a fixed rate every server delivers everything, and the rows compare latency and CPU. "
           "At full speed the sender outruns every server on two shared cores: those rows show "
           "behaviour under overload (how much gets through, and at what CPU cost), not a "
           "steady state — delivered/expected says how far behind each one fell.\n")
out.append("| receivers | rate | server | deliveries/s | delivered/expected | p50 ms | p99 ms | server CPU µs/delivery | ours vs it: rate | ours vs it: CPU |")
out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for clients in ["100", "1000"]:
    for rate_label in ["100", "full"]:
        key = ("broadcast", clients, rate_label)
        ours_rate, ours_cpu = median(key, "ferrosocket", "deliveries_per_s"), median(key, "ferrosocket", "cpu_us_per_delivery")
        for server in SERVERS:
            rate = median(key, server, "deliveries_per_s")
            if rate is None:
                continue
            cpu = median(key, server, "cpu_us_per_delivery")
            got, expected = median(key, server, "delivered"), median(key, server, "expected")
            mine = server == "ferrosocket"
            out.append(f"| {clients} | {rate_label}/s | {server} | {fmt(rate)} | {fmt(got)}/{fmt(expected)} | "
                       f"{fmt(median(key, server, 'p50_us') / 1000, 2)} | {fmt(median(key, server, 'p99_us') / 1000, 2)} | {fmt(cpu, 3)} | "
                       f"{'' if mine else ratio(ours_rate, rate)} | {'' if mine else ratio(ours_cpu, cpu, False)} |")
out.append("")

out.append("## Connections: setup rate and memory per idle connection\n")
out.append("| server | connections/s | server RSS per idle connection |")
out.append("| --- | --- | --- |")
for server in SERVERS:
    key = next((k for (k, s) in runs if s == server and k[0] == "connect"), None)
    if key:
        out.append(f"| {server} | {fmt(median(key, server, 'setup_per_s'))} | {fmt(median(key, server, 'kib_per_connection'), 2)} KiB |")
out.append("")

# A small SVG bar chart of echo CPU per message.
width, bar, gap = 640, 14, 6
colors = {"ferrosocket": "#2f6fde", "tungstenite": "#888", "node-ws": "#d9a400", "fastwebsockets": "#2a9d4b"}
top = max((c for _, _, c in chart), default=1) or 1
rows = []
y = 30
for label, server, cpu in chart:
    length = 420 * cpu / top
    rows.append(f'<text x="0" y="{y + 11}" font-size="11">{label} {server}</text>'
                f'<rect x="180" y="{y}" width="{length:.1f}" height="{bar}" fill="{colors[server]}"/>'
                f'<text x="{185 + length:.1f}" y="{y + 11}" font-size="11">{cpu:.2f} µs</text>')
    y += bar + gap
svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y + 10}" font-family="sans-serif">'
       f'<text x="0" y="16" font-size="13" font-weight="bold">Echo: server CPU per message (lower is better)</text>'
       + "".join(rows) + "</svg>\n")
open("docs/benchmarks-echo-cpu.svg", "w").write(svg)
out.append("![Echo: server CPU per message](benchmarks-echo-cpu.svg)\n")
print("\n".join(out))
