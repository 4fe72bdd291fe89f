"""Turns the RESULT lines of scripts/bench.sh into docs/BENCHMARKS.md: one table per
scenario with the median of the repeats and our ratio to each peer, the targets with where
we stand, the profile notes (docs/benchmarks-profiles.md) and an SVG chart.

    bench_report.py RESULTS SECONDS REPEATS   > docs/BENCHMARKS.md
    bench_report.py --check RESULTS           (the smoke: every scenario ran, nothing lost)
"""

import math
import statistics
import subprocess
import sys
from collections import defaultdict

SERVERS = ["ferrosocket", "tungstenite", "node-ws", "socketio", "fastwebsockets"]
BROADCAST_SERVERS = SERVERS[:4]
BROWSER_CLIENTS = ["raw-js", "rust-handlers", "js-class"]
SIZE_MODULES = ["socket-only", "gloo-net", "sockets", "library", "chat-page"]


def load(path):
    """{(server, scenario, key fields...): [fields, ...]}"""
    runs = defaultdict(list)
    for line in open(path):
        fields = dict(part.split("=", 1) for part in line.split())
        server, scenario = fields.pop("server"), fields.pop("scenario")
        if scenario == "echo":
            key = (fields["payload"], fields.get("target", "closed-loop") == "closed-loop")
        elif scenario in ("broadcast", "broadcast-max"):
            key = (fields["clients"],)
        elif scenario == "browser":
            key = (fields["client"],)
        elif scenario == "size":
            key = (fields["module"],)
        else:
            key = ()
        runs[(server, scenario) + key].append(fields)
    return runs


def positive(row, field):
    """Whether `field` of `row` is a finite number above zero."""
    try:
        value = float(row.get(field, ""))
    except ValueError:
        return False
    return value > 0 and math.isfinite(value)


def check(path):
    """The smoke's verdict: each scenario produced finite, positive figures, and nothing was
    lost."""
    runs = load(path)
    problems = []

    def need(rows, fields, what):
        if not rows:
            problems.append(f"{what} measured nothing")
            return
        for field in fields:
            if not positive(rows[0], field):
                problems.append(f"{what}: {field}={rows[0].get(field)!r} is not a positive number")

    for server in SERVERS:
        for closed in (True, False):
            need(runs.get((server, "echo", "20", closed), []), ["rate", "p50_us", "p99_us"],
                 f"echo ({'closed loop' if closed else 'paced'}) against {server}")
        need(runs.get((server, "connect"), []), ["setup_per_s"], f"connect against {server}")
    for server in BROADCAST_SERVERS:
        rows = runs.get((server, "broadcast", "100"), [])
        need(rows, ["deliveries_per_s", "expected"], f"broadcast against {server}")
        if rows and rows[0]["delivered"] != rows[0]["expected"]:
            problems.append(f"broadcast against {server} delivered {rows[0]['delivered']} of {rows[0]['expected']}")
        need(runs.get((server, "broadcast-max", "100"), []), ["rate", "deliveries_per_s"],
             f"broadcast-max against {server}")
    for client in BROWSER_CLIENTS:
        need(runs.get(("ferrosocket", "browser", client), []), ["rate"],
             f"the browser page for {client}")
    for module in SIZE_MODULES:
        need(runs.get(("ferrosocket", "size", module), []), ["wasm_bytes", "js_bytes"],
             f"the size of the {module} module")
    for problem in problems:
        print(f"smoke: {problem}", file=sys.stderr)
    print(f"benchmark smoke: {'FAILED' if problems else 'every scenario ran against every server'}")
    sys.exit(1 if problems else 0)


if sys.argv[1] == "--check":
    check(sys.argv[2])

results_path, seconds, repeats = sys.argv[1], sys.argv[2], sys.argv[3]
runs = load(results_path)


def median(key, field):
    values = []
    for run in runs.get(key, []):
        try:
            values.append(float(run[field]))
        except (KeyError, ValueError):
            pass
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    return "–" if value is None else f"{value:,.{digits}f}"


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
out.append("Produced by `scripts/bench.sh` (`make bench`); every server figure is the median of "
           f"{repeats} runs of {seconds} s. Servers run pinned to core 0 and the load "
           "generator (`ferrosocket-loadgen`) to core 1, on loopback, one server at a time. "
           "The peers: a bare tokio-tungstenite server in the style of its examples, "
           "fastwebsockets (echo only), Node `ws` as its README shows, and socket.io over its "
           "WebSocket transport (the load generator speaks Engine.IO v4 to it; its payloads "
           "travel as strings inside socket.io event packets).\n")
out.append(f"Machine: {machine()}.\n")
out.append("Ratios are ours against the peer: above 1× we do better (more messages per second, "
           "or less server CPU per message). Server CPU time per message (utime + stime from "
           "/proc over the run) compares servers fairly even when the load generator, not the "
           "server, is the bottleneck — which it often is on two cores.\n")

targets = []  # (target, measured, met)

out.append("## Echo: 100 connections\n")
out.append("Closed loop: each connection sends and waits for its echo, as fast as it can. "
           "Half load: the same, paced to half of our closed-loop rate, where latency compares "
           "servers that all keep up.\n")
out.append("| payload | server | msg/s | p50 ms | p99 ms | server CPU µs/msg | ours vs it: rate | ours vs it: CPU | p99 ms at half load |")
out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
chart = []
for payload in ["20", "1024", "16384"]:
    key = lambda server, closed=True: (server, "echo", payload, closed)
    ours_rate, ours_cpu = median(key("ferrosocket"), "rate"), median(key("ferrosocket"), "cpu_us_per_msg")
    half_p99 = {}
    for server in SERVERS:
        rate, cpu = median(key(server), "rate"), median(key(server), "cpu_us_per_msg")
        if rate is None:
            continue
        p50, p99 = median(key(server), "p50_us"), median(key(server), "p99_us")
        half = median(key(server, False), "p99_us")
        half_p99[server] = half
        mine = server == "ferrosocket"
        out.append(f"| {payload} B | {server} | {fmt(rate)} | {fmt(p50 / 1000, 3)} | {fmt(p99 / 1000, 3)} | {fmt(cpu, 2)} | "
                   f"{'' if mine else ratio(ours_rate, rate)} | {'' if mine else ratio(ours_cpu, cpu, False)} | "
                   f"{fmt(half / 1000 if half else None, 3)} |")
        chart.append((f"{payload} B", server, cpu or 0))
    fast = median(key("fastwebsockets"), "cpu_us_per_msg")
    if ours_cpu and fast:
        targets.append((f"echo {payload} B: server CPU/msg within 1.2× of fastwebsockets",
                        f"{ours_cpu:.2f} vs {fast:.2f} µs ({ours_cpu / fast:.2f}×)", ours_cpu <= 1.2 * fast))
    if half_p99.get("ferrosocket") and len(half_p99) > 1:
        best_peer = min(v for s, v in half_p99.items() if s != "ferrosocket" and v)
        ours = half_p99["ferrosocket"]
        targets.append((f"echo {payload} B: p99 at half our peak no worse than any peer's",
                        f"{ours / 1000:.2f} ms vs best peer {best_peer / 1000:.2f} ms", ours <= best_peer))
out.append("")

out.append("## Broadcast: one sender, N receivers in one room\n")
out.append("At 100 messages/s every server delivers everything; the rows compare latency and "
           "CPU at the same load. *Max sustainable* is the highest rate a server held with "
           "every message delivered to every receiver and p99 latency ≤ 250 ms "
           "(`broadcast-max`: doubling, then bisecting to within 10 %, one search per server). "
           "Past it, a sender outruns the server and latency grows without bound.\n")
out.append("| receivers | server | deliveries/s at 100/s | p50 ms | p99 ms | server CPU µs/delivery | ours vs it: CPU | max sustainable msg/s | deliveries/s at max | CPU µs/delivery at max | ours vs it: max deliveries/s |")
out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for clients in ["100", "1000"]:
    fixed = lambda server: (server, "broadcast", clients)
    top = lambda server: (server, "broadcast-max", clients)
    ours_cpu = median(fixed("ferrosocket"), "cpu_us_per_delivery")
    ours_max = median(top("ferrosocket"), "deliveries_per_s")
    p99s = {}
    for server in BROADCAST_SERVERS:
        if not runs.get(fixed(server)) and not runs.get(top(server)):
            continue
        cpu = median(fixed(server), "cpu_us_per_delivery")
        p99s[server] = median(fixed(server), "p99_us")
        max_rows = runs.get(top(server), [])
        max_rate = max_rows[0]["rate"] if max_rows else "–"
        mine = server == "ferrosocket"
        out.append(f"| {clients} | {server} | {fmt(median(fixed(server), 'deliveries_per_s'))} | "
                   f"{fmt((median(fixed(server), 'p50_us') or 0) / 1000, 2)} | {fmt((p99s[server] or 0) / 1000, 2)} | {fmt(cpu, 3)} | "
                   f"{'' if mine else ratio(ours_cpu, cpu, False)} | {max_rate.replace('below-', '< ')} | "
                   f"{fmt(median(top(server), 'deliveries_per_s'))} | {fmt(median(top(server), 'cpu_us_per_delivery'), 3)} | "
                   f"{'' if mine else ratio(ours_max, median(top(server), 'deliveries_per_s'))} |")
    if clients == "1000":
        ws_max, tt_max = median(top("node-ws"), "deliveries_per_s"), median(top("tungstenite"), "deliveries_per_s")
        ws_cpu = median(fixed("node-ws"), "cpu_us_per_delivery")
        if ours_max and ws_max:
            targets.append(("broadcast 1,000: ≥ 3× Node ws deliveries/s (max sustainable)",
                            f"{ours_max:,.0f} vs {ws_max:,.0f} ({ours_max / ws_max:.2f}×)", ours_max >= 3 * ws_max))
        if ours_cpu and ws_cpu:
            targets.append(("broadcast 1,000: ≤ 1/3 of Node ws server CPU per delivery (at 100/s)",
                            f"{ours_cpu:.2f} vs {ws_cpu:.2f} µs ({ws_cpu / ours_cpu:.2f}× less)", ours_cpu * 3 <= ws_cpu))
        if ours_max and tt_max:
            targets.append(("broadcast 1,000: ≥ 2× bare tokio-tungstenite deliveries/s (max sustainable)",
                            f"{ours_max:,.0f} vs {tt_max:,.0f} ({ours_max / tt_max:.2f}×)", ours_max >= 2 * tt_max))
        if p99s.get("ferrosocket") and p99s.get("node-ws") and p99s.get("tungstenite"):
            ours = p99s["ferrosocket"]
            targets.append(("broadcast 1,000: p99 below Node ws and tokio-tungstenite (at 100/s)",
                            f"{ours / 1000:.1f} vs {p99s['node-ws'] / 1000:.1f} and {p99s['tungstenite'] / 1000:.1f} ms",
                            ours < p99s["node-ws"] and ours < p99s["tungstenite"]))
out.append("")

out.append("## Connections: setup rate and memory per idle connection\n")
out.append("| server | connections | connections/s | server RSS per idle connection |")
out.append("| --- | --- | --- | --- |")
for server in SERVERS:
    rows = runs.get((server, "connect"), [])
    if rows:
        out.append(f"| {server} | {rows[0]['connections']} | {fmt(median((server, 'connect'), 'setup_per_s'))} | "
                   f"{fmt(median((server, 'connect'), 'kib_per_connection'), 2)} KiB |")
ours_kib = median(("ferrosocket", "connect"), "kib_per_connection")
if ours_kib is not None:
    targets.append(("≤ 5 KiB server RSS per idle connection", f"{ours_kib:.2f} KiB", ours_kib <= 5))
out.append("")

out.append("## Browser: receive rate in headless Chromium\n")
browser_rows = [runs[("ferrosocket", "browser", c)][0] for c in BROWSER_CLIENTS if runs.get(("ferrosocket", "browser", c))]
if browser_rows:
    first = browser_rows[0]
    out.append(f"`www/bench.html`, driven by `browser-bench`: the server's `/test/firehose` sends "
               f"{int(first['count']):,} text messages of {first['size']} B; each client's handler reads "
               "every message's length; rounds alternate the clients and the median is kept.\n")
    out.append("| client | messages/s | vs raw JS |")
    out.append("| --- | --- | --- |")
    for row in browser_rows:
        out.append(f"| {row['client']} | {float(row['rate']):,.0f} | {float(row['ratio']):.2f}× |")
    for client, goal in [("rust-handlers", 0.9), ("js-class", 0.85)]:
        row = runs.get(("ferrosocket", "browser", client))
        if row:
            value = float(row[0]["ratio"])
            targets.append((f"browser: {client} ≥ {goal}× raw JS", f"{value:.2f}×", value >= goal))
out.append("")

out.append("## Size: wasm module and its JavaScript\n")
out.append("`scripts/wasm-size.sh`, the pipeline of our packages (`scripts/package.sh`, "
           "`scripts/run.sh`): cargo profile `wasm-release` (opt-level z, LTO), wasm-bindgen "
           "`--target web`, wasm-opt with wasm-pack's arguments from `crate-client/Cargo.toml` "
           "(`-Oz --gufa -Oz --converge`, build-telemetry sections stripped), "
           "`scripts/shorten-names.mjs` (the hashed names between the module and its glue made "
           "one or two letters), `gzip -9`. *socket-only* uses just the "
           "socket layer (`crate-client/examples/size_socket_only.rs`, default features off); "
           "*gloo-net* does the same work with gloo-net's WebSocket; *sockets* is the library "
           "with `FerroSocket` and `ReconnectingSocket` but without `ChatClient` (cargo feature "
           "`js-chat` off); *library* is the whole client "
           "with its JS classes, without the chat page; *chat-page* is what `www/index.html` loads. "
           "*JS* is all of it: wasm-bindgen's glue and the snippets it imports (the classes' JS), "
           "as written, and *JS minified* is the same bundled and minified by esbuild, as a "
           "bundler ships it. *Total* is wasm plus minified JS, gzipped. *Long names* is the "
           "same total before `shorten-names.mjs`: what `wasm-pack build --profile wasm-release` "
           "of the crate gives (a plain `wasm-pack build`, cargo's `release` profile, gives more: "
           "the library 76.4 KiB).\n")
out.append("| module | wasm | wasm gzipped | JS | JS gzipped | JS minified, gzipped | total gzipped | long names |")
out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
sizes = {}
for module in SIZE_MODULES:
    row = runs.get(("ferrosocket", "size", module))
    if row:
        r = {k: int(v) for k, v in row[0].items() if k != "module"}
        sizes[module] = (r["wasm_gz"] + r["js_min_gz"]) / 1024
        out.append(f"| {module} | {r['wasm_bytes'] / 1024:.1f} KiB | {r['wasm_gz'] / 1024:.1f} KiB | "
                   f"{r['js_bytes'] / 1024:.1f} KiB | {r['js_gz'] / 1024:.1f} KiB | "
                   f"{r['js_min_gz'] / 1024:.1f} KiB | {sizes[module]:.1f} KiB | "
                   + (f"{r['long_names_gz'] / 1024:.1f} KiB |" if "long_names_gz" in r else "– |"))
if "socket-only" in sizes:
    targets.append(("size: socket-only module ≤ 22 KiB gzipped", f"{sizes['socket-only']:.1f} KiB "
                    f"(gloo-net: {sizes.get('gloo-net', 0):.1f} KiB)", sizes["socket-only"] <= 22))
if "library" in sizes:
    without_chat = f"; without `ChatClient` {sizes['sockets']:.1f} KiB" if "sockets" in sizes else ""
    targets.append(("size: whole library without the chat page ≤ 60 KiB gzipped",
                    f"{sizes['library']:.1f} KiB{without_chat}", sizes["library"] <= 60))
out.append("")

out.append("## Targets: where we stand\n")
out.append("| target | measured | |")
out.append("| --- | --- | --- |")
for target, measured, met in targets:
    out.append(f"| {target} | {measured} | {'met' if met else '**gap**'} |")
out.append("")
out.append("Each gap's profile-based reason, and what was changed and measured before and after, "
           "is in the next section.\n")
try:
    out.append(open("docs/benchmarks-profiles.md").read())
except OSError:
    pass

# A small SVG bar chart of echo CPU per message.
width, bar, gap = 660, 14, 6
colors = {"ferrosocket": "#2f6fde", "tungstenite": "#888", "node-ws": "#d9a400",
          "socketio": "#c0392b", "fastwebsockets": "#2a9d4b"}
top_cpu = max((c for _, _, c in chart), default=1) or 1
rows, y = [], 30
for label, server, cpu in chart:
    length = 420 * cpu / top_cpu
    rows.append(f'<text x="0" y="{y + 11}" font-size="11">{label} {server}</text>'
                f'<rect x="180" y="{y}" width="{length:.1f}" height="{bar}" fill="{colors[server]}"/>'
                f'<text x="{185 + length:.1f}" y="{y + 11}" font-size="11">{cpu:.2f} µs</text>')
    y += bar + gap
svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y + 10}" font-family="sans-serif">'
       f'<text x="0" y="16" font-size="13" font-weight="bold">Echo: server CPU per message (lower is better)</text>'
       + "".join(rows) + "</svg>\n")
open("docs/benchmarks-echo-cpu.svg", "w").write(svg)
out.append("\n![Echo: server CPU per message](benchmarks-echo-cpu.svg)\n")
print("\n".join(out))
