"""Turn one run's results into the JSON file, docs/benchmarks.md and the plots.

Everything on the page is generated from the results dictionary, except the
hand-written analysis in ``bench/ANALYSIS.md`` (why a target is missed and
what to do about it), which is embedded as it stands, with the run it was
written from named at its top.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Outputs", "console_summary", "write_all"]

ANALYSIS = Path(__file__).with_name("ANALYSIS.md")
NONE = "\u2013"  # an en dash: no figure
LOOP_NAMES = {"asyncio": "stdlib asyncio", "uvloop": "uvloop"}
THROUGHPUT_ORDER = (
    "message_closed_1",
    "message_closed_50",
    "message_closed_500",
    "message_pipelined_1",
    "message_pipelined_50",
    "liste",
    "liste_deep",
    "conversation_page0",
    "conversation_deep",
)

# The closed-loop scenarios at the calibration's connection count, placed on its curve.
CALIBRATED_SCENARIOS = {
    "message_closed_50": "`/message`",
    "liste": "`/liste` page 0",
    "liste_deep": "`/liste` deep page",
    "conversation_page0": "`/conversation` page 0",
    "conversation_deep": "`/conversation` deep page",
}


@dataclass(frozen=True)
class Outputs:
    json_dir: Path
    markdown: Path
    images: Path


def write_all(results: dict[str, Any], outputs: Outputs, *, write_json: bool = True) -> list[Path]:
    outputs.json_dir.mkdir(parents=True, exist_ok=True)
    outputs.images.mkdir(parents=True, exist_ok=True)
    outputs.markdown.parent.mkdir(parents=True, exist_ok=True)
    json_path = outputs.json_dir / f"{results['date'][:10]}.json"
    if write_json:
        _keep_earlier_run(json_path)
        json_path.write_text(json.dumps(results, indent=1, default=_jsonable) + "\n", "utf-8")
    images = plot_all(results, outputs.images)
    relative = _relative(outputs.images, outputs.markdown.parent)
    markdown = render_markdown(
        results, {name: f"{relative}/{path.name}" for name, path in images.items()}, json_path
    )
    outputs.markdown.write_text(markdown, "utf-8")
    return [*([json_path] if write_json else []), outputs.markdown, *images.values()]


def _keep_earlier_run(json_path: Path) -> None:
    """The newest run of a day is ``<date>.json``; an earlier one moves aside.

    It becomes ``<date>-<HHMM>.json`` after its own start time, so a second
    run on the same day never loses the first.
    """
    try:
        earlier = json.loads(json_path.read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return
    started = str(earlier.get("date", ""))
    stamp = started[11:13] + started[14:16] if len(started) >= 16 else "earlier"
    target = json_path.with_name(f"{json_path.stem}-{stamp}.json")
    serial = 1
    while target.exists():
        serial += 1
        target = json_path.with_name(f"{json_path.stem}-{stamp}-{serial}.json")
    json_path.rename(target)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return None
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def _relative(path: Path, start: Path) -> str:
    import os

    return os.path.relpath(path, start).replace(os.sep, "/")


# --- formatting ----------------------------------------------------------------------------------


def _num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NONE
    if isinstance(value, float) and digits == 0 and abs(value) < 10:
        digits = 2
    return f"{value:,.{digits}f}"


def _ms(value: Any) -> str:
    if value is None:
        return NONE
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _percentiles(figures: dict[str, Any]) -> str:
    return " / ".join(_ms(figures[key]) for key in ("p50_ms", "p99_ms", "p999_ms"))


def _ratio(value: Any) -> str:
    if value is None:
        return NONE
    if value >= 10:
        return f"{value:.1f}\u00d7"
    return f"{value:.2f}\u00d7"


def _verdict(target: dict[str, Any]) -> str:
    margin = target.get("margin")
    if target["pass"]:
        if margin is None or math.isinf(margin):
            return "**PASS**"
        return (
            f"**PASS** ({margin:.2f}\u00d7 the goal)"
            if target["op"] == ">="
            else (f"**PASS** ({margin:.2f}\u00d7 headroom)")
        )
    if margin is None:
        return "**MISS**"
    if target["op"] == ">=":
        return f"**MISS** by {(1 - margin) * 100:.0f} %: needs {1 / margin:.2f}\u00d7 more"
    return f"**MISS**: {1 / margin:.2f}\u00d7 over the limit"


def _measured(target: dict[str, Any]) -> str:
    value = target["measured"]
    unit = target["unit"]
    if value is None:
        return NONE
    if unit == "\u00d7":
        return _ratio(value)
    if unit == "messages":
        return f"{value:,} stored / {target['target']:,} acknowledged"
    if unit == "ms":
        return f"{_ms(value)} ms"
    return f"{value:,.1f} {unit}"


def _goal(target: dict[str, Any]) -> str:
    op = "≥" if target["op"] == ">=" else "≤"
    unit = target["unit"]
    if unit == "messages":
        return "all"
    if unit == "\u00d7":
        return f"{op} {target['target']:g}\u00d7"
    return f"{op} {target['target']:g} {unit}"


# --- markdown ------------------------------------------------------------------------------------


def render_markdown(results: dict[str, Any], images: dict[str, str], json_path: Path) -> str:
    machine = results["machine"]
    settings = results["settings"]
    fill = results.get("fill", {})
    out: list[str] = []
    w = out.append
    w("# Benchmarks\n")
    w(
        "Generated by `make bench` (`python -m bench`) from "
        f"`bench/results/{json_path.name}`; do not edit by hand (the analysis section "
        "comes from `bench/ANALYSIS.md`).\n"
    )
    w(
        f"- **Commit measured:** `{results['commit']}` (sources of `server/` and `protocol/` as "
        f"run: sha256 `{results.get('source_digest', '?')}`, which also covers uncommitted work)"
    )
    w(
        f"- **Date:** {results['date']} · mode `{results['mode']}` · "
        f"run time {results.get('duration_seconds', 0):.0f} s"
    )
    w(
        f"- **Machine:** {machine['cpu_model']}, {machine['cores']} cores, "
        f"{machine['ram_gib']} GiB RAM, Linux {machine['kernel']}"
    )
    w(
        f"- **Software:** Python {machine['python']}, {machine['openssl']}, "
        f"SQLite {machine['sqlite']}, uvloop {machine['uvloop']}"
    )
    w(
        f"- **Database:** {fill.get('messages', 0):,} messages in "
        f"{fill.get('conversations', 0):,} conversations, "
        f"{sum(fill.get('users', {}).values()):,} users, filled in {fill.get('seconds', 0)} s"
    )
    w(
        f"- **Load:** {settings['workers']} generator processes (uvloop, real TLS 1.3, "
        "certificate verified) on the same 2 cores as the process under test; "
        f"warm-up {settings['warmup']} s then a {settings['measure']} s window per run "
        f"(handshakes {settings['handshake_measure']} s, delivery {settings['delivery_measure']} s)"
    )
    w("")
    w(_method())
    w("## Targets\n")
    w(
        "Ratios are the server's figure divided by the baseline's, measured in the same run on "
        "the same event loop.\n"
    )
    w("| Target | Loop | Measured | Goal | Result |")
    w("|---|---|---|---|---|")
    for loop, data in results["loops"].items():
        for target in data["targets"]:
            w(
                f"| {target['label']} | {LOOP_NAMES.get(loop, loop)} | {_measured(target)} | "
                f"{_goal(target)} | {_verdict(target)} |"
            )
    w("")
    if images:
        w("## Plots\n")
        for name, caption in (
            ("targets", "Each target: measured against its goal (right of the line holds)"),
            ("throughput", "Requests per second against connections"),
            ("latency", "Latency percentiles, server and baseline"),
            ("cpu", "Server CPU time per request (independent of the generator)"),
            ("delivery", "Live delivery percentiles"),
        ):
            if name in images:
                w(f"![{caption}]({images[name]})\n")
    for loop, data in results["loops"].items():
        w(_loop_section(loop, data))
    w(_profiles_section(results))
    analysis = _analysis()
    if analysis:
        w("## Closing note: analysis and recommendations\n")
        w(analysis)
    return "\n".join(out).rstrip() + "\n"


def _method() -> str:
    return """## How it is measured

- **Baseline**: `bench/baseline.py`, a bare asyncio TLS 1.3 line server on the
  `asyncio.Protocol` API with the same framing (one line in, `200/OK` + one JSON
  line + empty line out), the server's own certificates and `SSLContext`, no
  logic. It runs on the same event loop as the server under test.
- **Closed loop**: each connection sends its next request when the previous
  answer arrives. **Pipelined**: 16 requests in flight per connection.
- **Latency** is measured by the generator from writing a request to reading
  its whole reply; **req/s** counts replies completed inside the window.
- **CPU µs/request** is the process's own CPU time (`/proc/PID/stat` utime +
  stime, all threads) over the window divided by the replies in the window: it
  does not depend on how much of the 2 cores the generator took.
- **Memory per connection**: VmRSS of the fresh process with all connections
  open and logged in, minus before, divided by the connections.
- **Live delivery**: listeners (500; quick: 200) with `/push on`; senders
  write to them at a fixed rate, each waiting for its answer; delivery is the
  time from the sender reading its `200` to the listener reading the push line
  (the server pushes before it answers, so it can be negative); end-to-end is
  from the sender's write to the push.
- Every `/message` the server acknowledged with `200` is counted back in the
  database afterwards (the server commits before it answers, SQLite WAL with
  `synchronous=FULL`).
"""


def _loop_section(loop: str, data: dict[str, Any]) -> str:
    scenarios = data["scenarios"]
    out: list[str] = []
    w = out.append
    w(f"## Results on {LOOP_NAMES.get(loop, loop)}\n")
    w("### Requests (server vs baseline)\n")
    w(
        "| Scenario | Server req/s | Baseline req/s | Ratio | Server p50 / p99 / p99.9 ms | "
        "Baseline p50 / p99 / p99.9 ms | p99 ratio | Server CPU µs/req | Baseline CPU µs/req | "
        "CPU ratio |"
    )
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in THROUGHPUT_ORDER:
        record = scenarios.get(name)
        if record is None:
            continue
        s, b, r = record["server"], record["baseline"], record["ratios"]
        ref = f" (vs baseline `{record['baseline_ref']}`)" if record.get("baseline_ref") else ""
        w(
            f"| {record['description']}{ref} | {_num(s['rps'])} | {_num(b['rps'])} | "
            f"{_ratio(r['rps'])} | {_percentiles(s)} | {_percentiles(b)} | {_ratio(r['p99_ms'])} | "
            f"{_num(s['cpu_us_per_request'])} | {_num(b['cpu_us_per_request'])} | "
            f"{_ratio(r['cpu_us_per_request'])} |"
        )
    w("")
    calibration = data.get("extras", {}).get("calibration")
    if calibration:
        w(_calibration_section(calibration, scenarios))
    handshake = scenarios.get("handshake")
    if handshake:
        s, b, r = handshake["server"], handshake["baseline"], handshake["ratios"]
        w("### Connect + `/connexion`\n")
        w("| | Server | Baseline | Ratio |")
        w("|---|---:|---:|---:|")
        w(f"| connections per second | {_num(s['rps'])} | {_num(b['rps'])} | {_ratio(r['rps'])} |")
        w(
            f"| p50 / p99 ms (connect to reply) | {_ms(s['p50_ms'])} / {_ms(s['p99_ms'])} | "
            f"{_ms(b['p50_ms'])} / {_ms(b['p99_ms'])} | "
            f"{_ratio(r['p50_ms'])} / {_ratio(r['p99_ms'])} |"
        )
        w(
            f"| CPU µs per connection | {_num(s['cpu_us_per_request'])} | "
            f"{_num(b['cpu_us_per_request'])} | {_ratio(r['cpu_us_per_request'])} |"
        )
        w(
            f"| concurrent connect loops | {s.get('concurrency', NONE)} | "
            f"{b.get('concurrency', NONE)} | |"
        )
        w("")
    idle = scenarios.get("idle_memory")
    if idle:
        s, b, r = idle["server"], idle["baseline"], idle["ratios"]
        w("### Idle authenticated connections\n")
        w("| | Server | Baseline | Ratio |")
        w("|---|---:|---:|---:|")
        w(f"| connections held | {s['connected']:,} | {b['connected']:,} | |")
        w(
            f"| RSS before → held, MiB | {s['rss_before_kib'] / 1024:,.0f} → "
            f"{s['rss_held_kib'] / 1024:,.0f} | {b['rss_before_kib'] / 1024:,.0f} → "
            f"{b['rss_held_kib'] / 1024:,.0f} | |"
        )
        w(
            f"| **KiB per connection** | **{s['kib_per_connection']:.1f}** | "
            f"{b['kib_per_connection']:.1f} | {_ratio(r['kib_per_connection'])} |"
        )
        w(
            f"| KiB per connection still held once all are closed | "
            f"{s['retained_kib_per_connection']:.1f} | {b['retained_kib_per_connection']:.1f} | |"
        )
        w(
            f"| open descriptors before / held / after close | {s['fds_before']} / "
            f"{s['fds_held']} / {s['fds_after_close']} | {b['fds_before']} / {b['fds_held']} / "
            f"{b['fds_after_close']} | |"
        )
        w(
            f"| seconds until every descriptor was released | "
            f"{s.get('release_seconds', NONE)} | {b.get('release_seconds', NONE)} | |"
        )
        w(
            f"| connections still open when released | {s['still_open_at_end']:,} | "
            f"{b['still_open_at_end']:,} | |"
        )
        small = data.get("extras", {}).get("idle_memory_baseline_small_ssl_buffer")
        if small:
            w(
                f"| baseline with `SSLProtocol.max_size` = 16.25 KiB (experiment) | | "
                f"{small['kib_per_connection']:.1f} | |"
            )
        w("")
    delivery = scenarios.get("delivery")
    if delivery:
        s, b, r = delivery["server"], delivery["baseline"], delivery["ratios"]
        w(f"### Live delivery ({s['listeners']} listeners, {s['rate']:.0f} messages/s)\n")
        w("| | Server | Baseline | Ratio |")
        w("|---|---:|---:|---:|")
        w(f"| messages timed | {s['messages']:,} | {b['messages']:,} | |")
        w(f"| pushes missing | {s['missing_pushes']:,} | {b['missing_pushes']:,} | |")
        for key, label in (
            ("delivery", "sender's 200 → push, p50 / p99 ms"),
            ("end_to_end", "sender's write → push, p50 / p99 ms"),
            ("round_trip", "sender's round trip, p50 / p99 ms"),
        ):
            ratio = r.get(f"{key}_p99_ms")
            w(
                f"| {label} | {_ms(s[f'{key}_p50_ms'])} / {_ms(s[f'{key}_p99_ms'])} | "
                f"{_ms(b[f'{key}_p50_ms'])} / {_ms(b[f'{key}_p99_ms'])} | "
                f"{_ratio(ratio) if ratio is not None and ratio > 0 else NONE} |"
            )
        w(
            f"| CPU µs per message | {_num(s['cpu_us_per_request'])} | "
            f"{_num(b['cpu_us_per_request'])} | |"
        )
        w("")
    w(_health(data))
    return "\n".join(out)


def _calibration_section(calibration: dict[str, Any], scenarios: dict[str, Any]) -> str:
    out: list[str] = ["### What a ratio target allows: the baseline with synthetic work\n"]
    w = out.append
    w(
        f"The same baseline, spending W µs of CPU in Python on each request before it answers "
        f"(`--work-us`), on one process or on one per core (`--processes`, `SO_REUSEPORT`), "
        f"{calibration['connections']} connections in a closed loop. The ratio is to the plain "
        f"baseline's {_num(calibration['reference_rps'])} req/s in the same run: it is the best "
        "ratio a server can reach that needs W µs per request for its own work, all else being "
        "the bare platform.\n"
    )
    w("| Work per request | Processes | req/s | Ratio to plain baseline | p99 ms | CPU µs/req |")
    w("|---:|---:|---:|---:|---:|---:|")
    for point in calibration["points"]:
        w(
            f"| {point['work_us']:g} µs | {point['processes']} | {_num(point['rps'])} | "
            f"{_ratio(point['ratio'])} | {_ms(point['p99_ms'])} | "
            f"{_num(point['cpu_us_per_request'])} |"
        )
    w("")
    for budget in calibration["budgets"]:
        goal, processes = budget["goal"], budget["processes"]
        where = "one process" if processes == 1 else f"{processes} processes"
        if budget["work_us"] is not None:
            allowed = f"about **{budget['work_us']:.0f} µs** of work per request"
        elif budget["lightest"] and budget["lightest"][1] < goal:
            allowed = f"less than {budget['lightest'][0]:g} µs of work per request"
        elif budget["heaviest"]:
            allowed = f"more than {budget['heaviest'][0]:g} µs of work per request"
        else:
            continue
        w(f"- A ratio of {goal:g}\u00d7 leaves {allowed} on {where}.")
    one_process = calibration_curve(calibration["points"], 1)
    placed = []
    for name, label in CALIBRATED_SCENARIOS.items():
        record = scenarios.get(name)
        if record is None:
            continue
        work = equivalent_work(one_process, record["ratios"]["rps"])
        if work is not None:
            placed.append(f"{label} {work}")
    if placed:
        w(
            "- On that one-process curve, the server's scenarios sit where the baseline would "
            "spend: " + "; ".join(placed) + " per request."
        )
    w("")
    return "\n".join(out)


def calibration_curve(points: list[dict[str, Any]], processes: int) -> list[tuple[float, float]]:
    """(work per request, ratio) of the calibration points on ``processes``, lightest first."""
    return sorted(
        (point["work_us"], point["ratio"])
        for point in points
        if point["processes"] == processes and point["ratio"] is not None
    )


def equivalent_work(curve: list[tuple[float, float]], ratio: float | None) -> str | None:
    """The work per request at which the calibration curve gives ``ratio``
    (``≈ W µs``, or ``< W µs`` / ``> W µs`` off either end of the curve)."""
    if ratio is None or not curve:
        return None
    for (w0, r0), (w1, r1) in itertools.pairwise(curve):
        if r1 <= ratio <= r0 and r0 != r1:
            return f"\u2248 {w0 + (r0 - ratio) * (w1 - w0) / (r0 - r1):.0f} µs"
    if ratio < curve[-1][1]:
        return f"> {curve[-1][0]:g} µs"
    if ratio > curve[0][1]:
        return f"< {curve[0][0]:g} µs"
    return None


def _health(data: dict[str, Any]) -> str:
    out: list[str] = ["### Health under load\n"]
    w = out.append
    health = data.get("health", {})
    scenarios = data["scenarios"]
    problems = []
    for name, record in scenarios.items():
        server = record["server"]
        codes = server.get("all_codes", {})
        non_200 = {code: n for code, n in codes.items() if code != "200"}
        if non_200:
            problems.append(f"`{name}`: non-200 replies {non_200}")
        if server.get("error_count"):
            problems.append(
                f"`{name}`: {server['error_count']} client-side errors, e.g. "
                f"`{(server.get('errors') or [''])[0][:160]}`"
            )
        if server.get("unanswered"):
            problems.append(f"`{name}`: {server['unanswered']} requests never answered")
        if server.get("missing_pushes"):
            problems.append(f"`{name}`: {server['missing_pushes']} pushes never arrived")
    durability = data.get("durability", {})
    w(
        f"- `/message` acknowledged with 200: {durability.get('acknowledged', 0):,}; "
        f"found in the database afterwards: {durability.get('stored', 0):,} "
        f"({'all there' if durability.get('ok') else 'SOME MISSING'})."
    )
    crashes = health.get("server_crashes") or []
    w(f"- Server crashes: {len(crashes)}; exit code at the end: {health.get('server_exit_code')}.")
    log = health.get("server_log", {})
    w(
        f"- Server log: {log.get('tracebacks', 0)} tracebacks, {log.get('errors', 0)} errors, "
        f"{log.get('warnings', 0)} warnings."
    )
    for line in log.get("sample", [])[:5]:
        w(f"  - `{line[:200]}`")
    w(
        f"- Server RSS: {health.get('server_rss_start_kib', 0) / 1024:,.0f} MiB at start, "
        f"{health.get('server_rss_end_kib', 0) / 1024:,.0f} MiB after every scenario."
    )
    if problems:
        w("- Problems seen by the generator:")
        for problem in problems:
            w(f"  - {problem}")
    else:
        w("- The generator saw only `200` replies, no errors, nothing unanswered.")
    w("")
    return "\n".join(out)


def _profiles_section(results: dict[str, Any]) -> str:
    out: list[str] = []
    w = out.append
    any_profile = any(data.get("profiles") for data in results["loops"].values())
    if not any_profile:
        return ""
    w("## Profiles of the server\n")
    w(
        "Two py-spy recorders sampled the running server at once, from outside "
        "(`--nonblocking`, every thread), while the generator loaded it as in the scenario. "
        "*Active*: a thread is counted when it is not idle: running Python, running C code with "
        "the GIL released (SQLite, OpenSSL, fsync) or waiting for the GIL. *GIL*: only the "
        "thread holding the GIL, i.e. where the Python CPU time goes. A share is samples ÷ "
        "(rate \u00d7 seconds): 1.0 is one thread busy for the whole profile, so threads of a pool "
        "add up past 1. Inclusive time counts a function once per sample wherever it is on "
        "the stack; self time only where the sample stopped.\n"
    )
    for loop, data in results["loops"].items():
        for name, summary in data.get("profiles", {}).items():
            w(f"### {LOOP_NAMES.get(loop, loop)}: under `{name}`\n")
            active, gil = summary.get("active", {}), summary.get("gil", {})
            if "error" in active or "error" in gil:
                error = active.get("error") or gil.get("error") or ""
                w(f"Profile failed: `{error[:300]}`\n")
                continue
            w(
                "Active threads: "
                + ", ".join(f"`{t}` {share:.2f}" for t, share in active["threads"].items())
                + ".  "
            )
            w(
                "Holding the GIL: "
                + ", ".join(f"`{t}` {share:.2f}" for t, share in gil["threads"].items())
                + f" (the GIL was held {sum(gil['threads'].values()):.0%} of the time).\n"
            )
            w(
                _profile_table(
                    ("Inclusive, active threads", active["top_inclusive"]),
                    ("Self, holding the GIL (Python CPU)", gil["top_self"]),
                )
            )
            w("")
    return "\n".join(out)


def _profile_table(*columns: tuple[str, list[dict[str, Any]]]) -> str:
    head = " | ".join(f"{title} | share" for title, _ in columns)
    lines = [f"| {head} |", "|" + "---|---:|" * len(columns)]
    depth = max(len(rows) for _, rows in columns)
    for index in range(depth):
        cells = []
        for _, rows in columns:
            if index < len(rows):
                row = rows[index]
                cells.append(f"`{row['function']}` | {row['core_share']:.3f}")
            else:
                cells.append(" | ")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _analysis() -> str:
    try:
        return ANALYSIS.read_text("utf-8").strip() + "\n"
    except FileNotFoundError:
        return ""


# --- console -------------------------------------------------------------------------------------


def console_summary(results: dict[str, Any]) -> str:
    lines = []
    for loop, data in results["loops"].items():
        for target in data["targets"]:
            verdict = "PASS" if target["pass"] else "MISS"
            lines.append(
                f"{verdict}  {LOOP_NAMES.get(loop, loop):15} {target['label']}: "
                f"{_measured(target)} (goal {_goal(target)})"
            )
    return "\n".join(lines)


# --- plots ---------------------------------------------------------------------------------------


def plot_all(results: dict[str, Any], folder: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 100, "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})
    images: dict[str, Path] = {}
    for name, painter in (
        ("targets", _plot_targets),
        ("throughput", _plot_throughput),
        ("latency", _plot_latency),
        ("cpu", _plot_cpu),
        ("delivery", _plot_delivery),
    ):
        figure = painter(plt, results)
        if figure is None:
            continue
        path = folder / f"bench-{name}.png"
        figure.savefig(path, bbox_inches="tight")
        plt.close(figure)
        images[name] = path
    return images


_COLORS = {"server": "#1f77b4", "baseline": "#7f7f7f"}
_LOOP_COLORS = {
    ("server", "asyncio"): "#1f77b4",
    ("server", "uvloop"): "#17becf",
    ("baseline", "asyncio"): "#4d4d4d",
    ("baseline", "uvloop"): "#a6a6a6",
}
_LOOP_STYLE = {"asyncio": "-", "uvloop": "--"}


def _plot_targets(plt: Any, results: dict[str, Any]) -> Any:
    rows = []
    for loop, data in results["loops"].items():
        for target in data["targets"]:
            margin = target.get("margin")
            if margin is None or target["unit"] == "messages":
                continue
            rows.append(
                (
                    f"{target['label']} [{loop}]",
                    min(max(margin, 1e-2), 1e2),
                    target["pass"],
                    f"{_measured(target)} (goal {_goal(target)})",
                )
            )
    if not rows:
        return None
    rows.reverse()
    figure, axis = plt.subplots(figsize=(9, 0.34 * len(rows) + 1))
    labels = [row[0] for row in rows]
    values = [row[1] for row in rows]
    colors = ["#2ca02c" if row[2] else "#d62728" for row in rows]
    axis.barh(labels, values, color=colors)
    for index, row in enumerate(rows):
        axis.text(1.05 if row[1] < 1 else row[1] * 1.05, index, row[3], va="center", fontsize=7)
    axis.set_xlim(1e-2, 1e3)
    axis.axvline(1.0, color="black", linewidth=1)
    axis.set_xscale("log")
    axis.set_xlabel(
        "measured ÷ goal (≥ 1 holds; for 'lower is better' targets: goal ÷ measured; "
        "clamped to 0.01..100)"
    )
    axis.set_title("Targets: green holds, red is missed")
    return figure


def _plot_throughput(plt: Any, results: dict[str, Any]) -> Any:
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for loop, data in results["loops"].items():
        scenarios = data["scenarios"]
        for prefix, marker, label in (
            ("message_closed_", "o", "closed"),
            ("message_pipelined_", "s", "pipelined 16"),
        ):
            points = sorted(
                (int(name[len(prefix) :]), record)
                for name, record in scenarios.items()
                if name.startswith(prefix)
            )
            if not points:
                continue
            xs = [p[0] for p in points]
            for who in ("server", "baseline"):
                ys = [p[1][who]["rps"] for p in points]
                left.plot(
                    xs,
                    ys,
                    marker=marker,
                    linestyle="-" if label == "closed" else ":",
                    color=_LOOP_COLORS.get((who, loop), _COLORS[who]),
                    label=f"{who}, {loop}, {label}",
                )
            right.plot(
                xs,
                [p[1]["ratios"]["rps"] for p in points],
                marker=marker,
                linestyle="-" if label == "closed" else ":",
                color=_LOOP_COLORS[("server", loop)] if loop in _LOOP_STYLE else None,
                label=f"{loop}, {label}",
            )
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("connections")
    left.set_ylabel("/message requests per second")
    left.set_title("Throughput (/message)")
    left.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.15), ncol=2)
    right.axhline(0.3, color="red", linewidth=1, label="target ≥ 0.3\u00d7 (50 connections)")
    right.set_ylim(0, max(0.36, right.get_ylim()[1]))
    right.set_xscale("log")
    right.set_xlabel("connections")
    right.set_ylabel("server req/s ÷ baseline req/s")
    right.set_title("Ratio to the baseline")
    right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.15), ncol=2)
    return figure


def _plot_latency(plt: Any, results: dict[str, Any]) -> Any:
    loops = list(results["loops"])
    figure, axes = plt.subplots(len(loops), 1, figsize=(11, 3.6 * len(loops)), squeeze=False)
    for axis, loop in zip(axes[:, 0], loops, strict=True):
        scenarios = results["loops"][loop]["scenarios"]
        names = [name for name in THROUGHPUT_ORDER if name in scenarios]
        width = 0.13
        for offset, (who, pct, shade) in enumerate(
            [
                (who, pct, shade)
                for who in ("server", "baseline")
                for pct, shade in (("p50_ms", 1.0), ("p99_ms", 0.65), ("p999_ms", 0.35))
            ]
        ):
            values = [scenarios[name][who][pct] or 0 for name in names]
            positions = [i + (offset - 2.5) * width for i in range(len(names))]
            axis.bar(
                positions,
                values,
                width,
                color=_COLORS[who],
                alpha=shade,
                label=f"{who} {pct[:-3].replace('p999', 'p99.9')}",
            )
        axis.set_yscale("log")
        axis.set_xticks(range(len(names)))
        axis.set_xticklabels(
            [n.replace("message_", "msg_") for n in names], rotation=20, fontsize=8
        )
        axis.set_ylabel("ms (log)")
        axis.set_title(
            f"Latency percentiles on {LOOP_NAMES.get(loop, loop)} "
            "(reads compared with the baseline at 50 connections)"
        )
        axis.legend(fontsize=7, ncol=6)
    figure.tight_layout()
    return figure


def _plot_cpu(plt: Any, results: dict[str, Any]) -> Any:
    loops = list(results["loops"])
    figure, axis = plt.subplots(figsize=(11, 4))
    first = results["loops"][loops[0]]["scenarios"]
    names = [name for name in (*THROUGHPUT_ORDER, "handshake") if name in first]
    width = 0.8 / (2 * len(loops))
    for index, loop in enumerate(loops):
        scenarios = results["loops"][loop]["scenarios"]
        for who_index, who in enumerate(("server", "baseline")):
            offset = (index * 2 + who_index) - (len(loops) * 2 - 1) / 2
            values = [scenarios[name][who]["cpu_us_per_request"] or 0 for name in names]
            axis.bar(
                [i + offset * width for i in range(len(names))],
                values,
                width,
                color=_COLORS[who],
                alpha=1.0 if loop == "asyncio" else 0.55,
                label=f"{who}, {loop}",
            )
    axis.set_yscale("log")
    axis.set_xticks(range(len(names)))
    axis.set_xticklabels([n.replace("message_", "msg_") for n in names], rotation=20, fontsize=8)
    axis.set_ylabel("CPU µs per request (log)")
    axis.set_title("CPU time of the process under test per request")
    axis.legend(fontsize=7)
    return figure


def _plot_delivery(plt: Any, results: dict[str, Any]) -> Any:
    rows = []
    for loop, data in results["loops"].items():
        record = data["scenarios"].get("delivery")
        if record:
            rows.append((loop, record))
    if not rows:
        return None
    figure, axis = plt.subplots(figsize=(8, 3.5))
    labels = []
    for index, (loop, record) in enumerate(rows):
        for who_index, who in enumerate(("server", "baseline")):
            data = record[who]
            position = index * 3 + who_index
            labels.append((position, f"{who}\n{loop}"))
            axis.bar(
                position - 0.2,
                max(data["end_to_end_p50_ms"] or 0, 1e-3),
                0.4,
                color=_COLORS[who],
                alpha=1.0,
                label="end-to-end p50" if position == 0 else None,
            )
            axis.bar(
                position + 0.2,
                max(data["end_to_end_p99_ms"] or 0, 1e-3),
                0.4,
                color=_COLORS[who],
                alpha=0.5,
                label="end-to-end p99" if position == 0 else None,
            )
            axis.plot(
                [position - 0.4, position + 0.4],
                [max(data["delivery_p99_ms"] or 0, 1e-3)] * 2,
                color="black",
                label="200 → push p99" if position == 0 else None,
            )
    axis.axhline(50, color="red", linewidth=1, label="target: 200 → push p99 ≤ 50 ms")
    axis.text(
        0.99, 0.93, "200 → push at or below 0: the push line arrives before the 200",
        transform=axis.transAxes, ha="right", va="top", fontsize=7,
    )  # fmt: skip
    axis.set_xticks([p for p, _ in labels])
    axis.set_xticklabels([label for _, label in labels], fontsize=8)
    axis.set_yscale("log")
    axis.set_ylabel("ms (log)")
    listeners = rows[0][1]["server"]["listeners"]
    axis.set_title(f"Live delivery to {listeners} listeners")
    axis.legend(fontsize=7)
    return figure
