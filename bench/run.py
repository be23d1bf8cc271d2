"""``python -m bench``: the server against the bare platform, in one run.

What one run does (docs/benchmarks.md explains how to read the results):

1. makes a temporary folder with a ``.tchatator`` (huge rate limits, raised
   connection limits, a fixed admin key), the certificates, and a SQLite
   database filled with users and ``--messages`` messages (1,000,000; quick:
   5,000), see ``bench.fill``;
2. for each event loop (stdlib asyncio, then uvloop), starts the server
   (``python -m server serve [--uvloop]``) and the baseline
   (``python -m bench.baseline [--uvloop]``) on the same certificates;
3. runs every scenario against both from separate load processes
   (``bench.load``) over real TLS, measuring what the generator sees
   (throughput, latency percentiles) and what the process under test costs
   (CPU time and memory from ``/proc``);
4. divides every server figure by the baseline's on the same loop, checks the
   targets of the issue, profiles the server (py-spy) on the ``/message``
   load and on every scenario whose target is missed;
5. writes ``bench/results/latest.json``, ``docs/benchmarks.md`` and
   ``docs/img/bench-*.png`` (``--output-dir DIR`` writes all of them into DIR
   instead; ``--quick`` never writes into docs/).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import shutil
import sqlite3
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from server.config import toml_document

from . import procs, profile, report
from . import scenarios as names
from .fill import FillPlan, Population, fill
from .pool import LoadPool

ADMIN_KEY = "bench-admin-key-not-a-secret-0123456789"
ROOT = procs.ROOT
MIN_CYCLES = 2.0
MESSAGE_TEXT = "Bonjour, avez-vous encore des croissants aux amandes ce matin ? ({n})"


@dataclass(frozen=True)
class Mode:
    name: str
    plan: FillPlan
    warmup: float  # seconds of load before the measured window
    measure: float  # seconds of the measured window
    handshake_measure: float
    handshake_concurrency: int  # connect loops per worker
    idle_connections: int
    delivery_measure: float
    delivery_rate: float  # messages per second, all senders together
    delivery_listeners: int
    delivery_senders: int
    profile_seconds: int
    max_profiles: int  # per loop: /message at 50 connections first, then missed targets
    settle: float  # seconds to let memory figures settle around the idle scenario
    ssl_buffer_experiment: bool  # also measure the baseline with a 16 KiB SSL read buffer
    loops: tuple[str, ...]
    # (µs of synthetic work per request, processes) of the calibrated baselines
    calibration: tuple[tuple[float, int], ...] = ()
    connections: tuple[int, ...] = names.MESSAGE_CONNECTIONS
    pipelined_connections: tuple[int, ...] = names.PIPELINED_CONNECTIONS
    pipeline_depth: int = 16
    read_connections: int = 50


FULL = Mode(
    name="full",
    plan=FillPlan(),
    warmup=1.5,
    measure=6.0,
    handshake_measure=6.0,
    handshake_concurrency=16,
    idle_connections=10_000,
    delivery_measure=8.0,
    delivery_rate=200.0,
    delivery_listeners=500,
    delivery_senders=10,
    profile_seconds=5,
    max_profiles=6,
    settle=1.0,
    ssl_buffer_experiment=True,
    loops=("asyncio", "uvloop"),
    calibration=((10, 1), (25, 1), (50, 1), (100, 1), (25, 2), (50, 2), (100, 2)),
)

QUICK = Mode(
    name="quick",
    plan=FillPlan(messages=5_000, read_pros=60, fill_clients=60, msg_pros=20),
    warmup=0.2,
    measure=0.6,
    handshake_measure=0.6,
    handshake_concurrency=8,
    idle_connections=500,
    delivery_measure=0.8,
    delivery_rate=100.0,
    delivery_listeners=200,
    delivery_senders=5,
    profile_seconds=1,
    max_profiles=1,
    settle=0.3,
    ssl_buffer_experiment=False,
    loops=("asyncio",),
    calibration=((50, 1), (50, 2)),
)


@dataclass
class Target:
    """The process under test in one loop: the server or the baseline."""

    kind: str  # "server" or "baseline"
    loop: str
    child: procs.Child
    message_200s: int = 0  # acknowledged /message requests (server)
    crashes: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.child.port


class Bench:
    def __init__(self, mode: Mode, work: Path, workers: int, do_profile: bool) -> None:
        self.mode = mode
        self.work = work
        self.do_profile = do_profile
        self.config = work / ".tchatator"
        self.certs = work / "certs"
        self.data = work / "data"
        self.database = work / "bench.db"
        self.ca_file = str(self.certs / "ca.pem")
        self.pool = LoadPool(workers)
        self.population: Population | None = None
        self._clock = time.monotonic()

    def log(self, text: str) -> None:
        print(f"{time.monotonic() - self._clock:6.1f}s {text}", flush=True)

    # --- set-up -------------------------------------------------------------------------

    def prepare(self) -> dict[str, Any]:
        from server import tls

        self.work.mkdir(parents=True, exist_ok=True)
        _write_config(
            self.config,
            {
                "port": 0,
                "host": "127.0.0.1",
                "admin_api_key": ADMIN_KEY,
                "max_requests_per_minute": 10_000_000,
                "max_requests_per_hour": 100_000_000,
                "max_failed_logins_per_minute": 1_000_000,
                "max_connections": 30_000,
                "max_connections_per_address": 30_000,
                "backlog": 4096,
                "handshake_timeout": 60,
                "idle_timeout": 3600,
                "idle_timeout_authenticated": 3600,
                "shutdown_grace": 3,
                "database_url": f"sqlite:///{self.database}",
                "certs_dir": str(self.certs),
                "data_dir": str(self.data),
                "log_file": str(self.data / "requests.log"),
            },
        )
        tls.ensure_certificates(self.certs)
        self.log(f"filling {self.database} with {self.mode.plan.messages:,} messages...")
        self.population = fill(f"sqlite:///{self.database}", self.data, self.mode.plan)
        self.log(f"  done in {self.population.seconds:.1f} s")
        return self.population.summary()

    def start(self, kind: str, loop: str, extra: tuple[str, ...] = ()) -> Target:
        uv = ("--uvloop",) if loop == "uvloop" else ()
        if kind == "server":
            argv = [sys.executable, "-m", "server", "--config", str(self.config), "serve", *uv]
        else:
            argv = [sys.executable, "-m", "bench.baseline", "--certs-dir", str(self.certs), *uv]
        argv += list(extra)
        name = f"{kind}-{loop}" + ("-" + "-".join(a.strip("-") for a in extra) if extra else "")
        child = procs.Child(name, argv, self.work / f"{name}.log").start()
        return Target(kind, loop, child)

    # --- generic runs ---------------------------------------------------------------------

    def _split(self, items: list[Any], workers: int) -> list[list[Any]]:
        return [items[index::workers] for index in range(workers)]

    def _window(
        self,
        target: Target,
        jobs: list[dict[str, Any]],
        warmup: float,
        measure: float,
        during: Callable[[float, float], Any] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Dispatch, wait for the load to flow, open the window, sample the CPU.

        The window opens ``warmup`` seconds after every connection had its
        first reply, and lasts at least ``measure`` seconds and at least
        ``MIN_CYCLES`` times the time those first replies took (a server that
        answers in big batches needs a window of several batches).
        """
        readies = self.pool.dispatch(jobs)
        connected = sum(ready.get("connected", 0) for ready in readies)
        pid = target.child.pid
        self.pool.broadcast(("go",))
        warm = max(report["seconds"] for report in self.pool.gather("warm"))
        measure = max(measure, MIN_CYCLES * warm)
        t_start = time.monotonic() + warmup
        t_end = t_start + measure
        self.pool.broadcast(("window", t_start, t_end))
        hook = during(t_start, t_end) if during is not None else None
        _sleep_until(t_start)
        cpu_start = procs.cpu_seconds(pid)
        _sleep_until(t_end)
        cpu_end = procs.cpu_seconds(pid)
        results = self.pool.collect()
        if hook is not None:
            hook()
        costs = {
            "measure": measure,
            "warm_seconds": round(warm, 3),
            "connected": connected,
            "connect_errors": sum(len(r.get("connect_errors", [])) for r in readies),
            "cpu_seconds": cpu_end - cpu_start,
            "rss_kib": procs.rss_kib(pid),
            "threads": procs.thread_count(pid),
        }
        return results, costs

    def throughput(
        self,
        target: Target,
        keys: list[str],
        lines: list[list[bytes]],
        connections: int,
        depth: int,
        *,
        message: bool = False,
        measure: float | None = None,
        during: Callable[[float, float], Any] | None = None,
    ) -> dict[str, Any]:
        mode = self.mode
        measure = mode.measure if measure is None else measure
        # One generator process up to 50 connections (two processes and the
        # target on two cores measured no faster, and noisier), all above.
        workers = 1 if connections <= 50 else self.pool.size
        indices = list(range(connections))
        jobs = [
            {
                "kind": "throughput",
                "host": "127.0.0.1",
                "port": target.port,
                "ca_file": self.ca_file,
                "keys": [keys[i % len(keys)] for i in part],
                "lines": [lines[i % len(lines)] for i in part],
                "depth": depth,
            }
            for part in self._split(indices, workers)
        ]
        results, costs = self._window(target, jobs, mode.warmup, measure, during)
        metrics = _combine(results, costs)
        metrics.update(connections=connections, depth=depth, workers=workers)
        if message and target.kind == "server":
            target.message_200s += metrics["all_codes"].get("200", 0)
        self._check_alive(target)
        return metrics

    def handshakes(self, target: Target) -> dict[str, Any]:
        assert self.population is not None
        mode = self.mode
        keys = self.population.keys("msg_clients")
        jobs = [
            {
                "kind": "handshake",
                "host": "127.0.0.1",
                "port": target.port,
                "ca_file": self.ca_file,
                "keys": part,
                "concurrency": mode.handshake_concurrency,
            }
            for part in self._split(keys, self.pool.size)
        ]
        results, costs = self._window(target, jobs, mode.warmup, mode.handshake_measure)
        metrics = _combine(results, costs)
        metrics.update(concurrency=mode.handshake_concurrency * self.pool.size)
        self._check_alive(target)
        return metrics

    def idle(self, target: Target, count: int) -> dict[str, Any]:
        """Server memory per idle authenticated TLS connection."""
        assert self.population is not None
        keys = self.population.keys("msg_clients")
        pid = target.child.pid

        def hold(n: int) -> tuple[list[dict[str, Any]], int, int, int]:
            jobs = [
                {
                    "kind": "idle",
                    "host": "127.0.0.1",
                    "port": target.port,
                    "ca_file": self.ca_file,
                    "keys": [keys[i % len(keys)] for i in part],
                    "connect_concurrency": 100,
                }
                for part in self._split(list(range(n)), self.pool.size)
            ]
            readies = self.pool.dispatch(jobs, timeout=600)
            connected = sum(ready["connected"] for ready in readies)
            time.sleep(self.mode.settle)
            rss, fds = procs.rss_kib(pid), procs.open_fds(pid)
            self.pool.broadcast(("close",))
            return self.pool.collect(), connected, rss, fds

        hold(min(50, count))  # warm-up: lazily created pools, threads, caches
        time.sleep(self.mode.settle / 2)
        rss_before, fds_before = procs.rss_kib(pid), procs.open_fds(pid)
        started = time.monotonic()
        results, connected, rss_held, fds_held = hold(count)
        setup = time.monotonic() - started
        # Closing 10,000 TLS connections takes the server a moment: wait until
        # its descriptors are back (a leak would never get there), 60 s at most.
        closed = time.monotonic()
        while procs.open_fds(pid) > fds_before + 2 and time.monotonic() - closed < 60:
            time.sleep(0.1)
        release = time.monotonic() - closed
        time.sleep(self.mode.settle)
        rss_after, fds_after = procs.rss_kib(pid), procs.open_fds(pid)
        still_open = sum(r["still_open"] for r in results)
        errors = [e for r in results for e in r["errors"]]
        self._check_alive(target)
        per = (rss_held - rss_before) / connected if connected else 0.0
        return {
            "connections": count,
            "connected": connected,
            "still_open_at_end": still_open,
            "rss_before_kib": rss_before,
            "rss_held_kib": rss_held,
            "rss_after_close_kib": rss_after,
            "kib_per_connection": round(per, 2),
            "retained_kib_per_connection": round((rss_after - rss_before) / max(1, connected), 2),
            "fds_before": fds_before,
            "fds_held": fds_held,
            "fds_after_close": fds_after,
            "setup_seconds": round(setup, 2),
            "release_seconds": round(release, 2),
            "errors": errors[:10],
            "error_count": sum(r["error_count"] for r in results),
        }

    def calibration(
        self,
        loop: str,
        reference: dict[str, Any],
        keys: list[str],
        lines: list[list[bytes]],
    ) -> dict[str, Any]:
        """The baseline again, spending W µs of CPU per request, on 1 or N processes.

        What a ratio target allows: the ratio a server reaches with W µs of
        application work per request, all else being the bare platform; and
        what one event loop per core would buy.
        """
        connections = self.mode.read_connections
        points = []
        for work, processes in self.mode.calibration:
            extra = ("--work-us", f"{work:g}", "--processes", str(processes))
            target = self.start("baseline", loop, extra)
            try:
                # A fresh uvloop baseline answers its first connections up to 4x
                # slower than any later ones (seen at every work setting, for the
                # whole of a 10 s window): the first run is thrown away.
                self.throughput(target, keys, lines, connections, 1, measure=1.0)
                measured = self.throughput(target, keys, lines, connections, 1)
            finally:
                target.child.stop()
            points.append(
                {
                    "work_us": work,
                    "processes": processes,
                    "rps": measured["rps"],
                    "ratio": round(measured["rps"] / reference["rps"], 4)
                    if reference["rps"]
                    else None,
                    "p99_ms": measured["p99_ms"],
                    "cpu_us_per_request": measured["cpu_us_per_request"],
                    "non_200": measured["non_200"],
                }
            )
        return {
            "connections": connections,
            "reference_rps": reference["rps"],
            "points": points,
            "budgets": calibration_budgets(points, (0.4, 0.3)),
        }

    def delivery(self, target: Target) -> dict[str, Any]:
        assert self.population is not None
        mode = self.mode
        listeners = self.population.groups["push_pros"][: mode.delivery_listeners]
        ids = [user_id for user_id, _ in listeners]
        if target.kind == "server":
            listener_keys = [key for _, key in listeners]
        else:
            listener_keys = [str(user_id) for user_id in ids]  # the baseline's routing names
        senders = self.population.keys("push_clients")[: mode.delivery_senders]
        job = {
            "kind": "delivery",
            "host": "127.0.0.1",
            "port": target.port,
            "ca_file": self.ca_file,
            "listener_keys": listener_keys,
            "listener_ids": ids,
            "sender_keys": senders,
            "rate": mode.delivery_rate,
        }
        results, costs = self._window(target, [job], mode.warmup, mode.delivery_measure)
        result = results[0]
        metrics: dict[str, Any] = {
            "listeners": result["listeners"],
            "senders": result["senders"],
            "rate": mode.delivery_rate,
            "messages": result["count"],
            "missing_pushes": result["missing"],
            "seconds": costs["measure"],
            "codes": result["codes"],
            "all_codes": result["all_codes"],
            "errors": result["errors"],
            "error_count": result["error_count"],
            "server_cpu_seconds": round(costs["cpu_seconds"], 3),
            "cpu_us_per_request": _per_request(costs["cpu_seconds"], result["count"]),
            "rss_kib": costs["rss_kib"],
        }
        for name in ("delivery", "end_to_end", "round_trip"):
            values = _floats(result[name])
            for label, value in _percentiles(values).items():
                metrics[f"{name}_{label}"] = value
        if target.kind == "server":
            target.message_200s += result["all_codes"].get("200", 0)
        self._check_alive(target)
        return metrics

    def _check_alive(self, target: Target) -> None:
        if not target.child.alive():
            tail = target.child.log_tail()
            target.crashes.append(tail)
            self.log(f"!! {target.child.name} died:\n{tail}")
            target.child.process = None
            target.child.start()

    # --- the scenarios of one loop -------------------------------------------------------------

    def run_loop(self, loop: str) -> dict[str, Any]:
        assert self.population is not None
        mode = self.mode
        population = self.population
        scenarios: dict[str, Any] = {}
        extras: dict[str, Any] = {}
        say = self.log

        stored_before = _stored_messages(self.database, population)
        # 1. Memory first, on fresh processes: freed buffers of earlier runs
        # would otherwise be reused and hide the cost of a connection.
        baseline = self.start("baseline", loop)
        server = self.start("server", loop)
        server_rss_start = procs.rss_kib(server.child.pid)
        try:
            say(f"[{loop}] idle connections: {mode.idle_connections:,}")
            base_idle = self.idle(baseline, mode.idle_connections)
            server_idle = self.idle(server, mode.idle_connections)
            scenarios[names.IDLE_MEMORY] = _pair(
                "idle",
                f"{mode.idle_connections:,} idle authenticated TLS connections: server memory",
                server_idle,
                base_idle,
                {"kib_per_connection": "lower"},
            )
            if loop == "asyncio" and mode.ssl_buffer_experiment:
                # Evidence for the recommendation: the same baseline with the
                # stdlib SSL read buffer shrunk from 256 KiB to 16 KiB.
                small = self.start("baseline", loop, ("--ssl-max-size", str(16 * 1024 + 256)))
                try:
                    extras["idle_memory_baseline_small_ssl_buffer"] = self.idle(
                        small, mode.idle_connections
                    )
                finally:
                    small.child.stop()

            say(f"[{loop}] connect + /connexion")
            scenarios[names.HANDSHAKE] = _pair(
                "handshake",
                "connect + TLS 1.3 handshake + /connexion + close, per second",
                self.handshakes(server),
                self.handshakes(baseline),
                {
                    "rps": "higher",
                    "p50_ms": "lower",
                    "p99_ms": "lower",
                    "cpu_us_per_request": "lower",
                },
            )

            pros = population.ids("msg_pros")
            clients = population.keys("msg_clients")
            message_lines = [
                [
                    f"/message {pros[(i + k) % len(pros)]} {MESSAGE_TEXT.format(n=k)}\n".encode()
                    for k in range(16)
                ]
                for i in range(max(mode.connections))
            ]
            runs = [(names.message_closed(c), c, 1) for c in mode.connections] + [
                (names.message_pipelined(c), c, mode.pipeline_depth)
                for c in mode.pipelined_connections
            ]
            for name, connections, depth in runs:
                say(f"[{loop}] {name}")
                base = self.throughput(baseline, clients, message_lines, connections, depth)
                served = self.throughput(
                    server, clients, message_lines, connections, depth, message=True
                )
                how = "closed loop" if depth == 1 else f"pipelined, {depth} in flight"
                scenarios[name] = _pair(
                    "throughput",
                    f"/message, {connections} connection(s), {how}",
                    served,
                    base,
                    _THROUGHPUT_RATIOS,
                )

            # Reads on the filled database, against the baseline's closed loop
            # at the same connection count.
            read_ref = names.message_closed(mode.read_connections)
            if read_ref not in scenarios:
                base = self.throughput(baseline, clients, message_lines, mode.read_connections, 1)
            else:
                base = scenarios[read_ref]["baseline"]
            if mode.calibration:
                say(f"[{loop}] calibration: the baseline with synthetic work per request")
                extras["calibration"] = self.calibration(loop, base, clients, message_lines)
            for name, keys, line, description in self._read_specs():
                say(f"[{loop}] {name}")
                served = self.throughput(server, keys, [[line]], mode.read_connections, 1)
                record = _pair("throughput", description, served, base, _THROUGHPUT_RATIOS)
                record["baseline_ref"] = read_ref
                scenarios[name] = record

            say(f"[{loop}] live delivery, {mode.delivery_listeners} listeners")
            scenarios[names.DELIVERY] = _pair(
                "delivery",
                f"live delivery to {mode.delivery_listeners} listeners "
                f"at {mode.delivery_rate:.0f} messages/s",
                self.delivery(server),
                self.delivery(baseline),
                {
                    "delivery_p50_ms": "lower",
                    "delivery_p99_ms": "lower",
                    "end_to_end_p50_ms": "lower",
                    "end_to_end_p99_ms": "lower",
                },
            )

            targets = evaluate_targets(loop, scenarios, population)
            profiles = {}
            if self.do_profile:
                profiles = self._profiles(loop, server, targets, message_lines, clients)
            server_rss_end = procs.rss_kib(server.child.pid)
        finally:
            baseline_exit = baseline.child.stop()
            server_exit = server.child.stop()
        stored = _stored_messages(self.database, population) - stored_before
        durability = {
            "acknowledged": server.message_200s,
            "stored": stored,
            "ok": stored >= server.message_200s,
        }
        targets.append(
            {
                "id": "durable",
                "loop": loop,
                "label": "every /message 200 is in the database",
                "measured": durability["stored"],
                "target": durability["acknowledged"],
                "op": ">=",
                "unit": "messages",
                "pass": durability["ok"],
                "margin": None,
            }
        )
        return {
            "scenarios": scenarios,
            "extras": extras,
            "targets": targets,
            "profiles": profiles,
            "durability": durability,
            "health": {
                "server_crashes": server.crashes,
                "baseline_crashes": baseline.crashes,
                "server_exit_code": server_exit,
                "baseline_exit_code": baseline_exit,
                "server_rss_start_kib": server_rss_start,
                "server_rss_end_kib": server_rss_end,
                "server_log": _scan_log(server.child.log_path),
            },
        }

    def _read_specs(self) -> list[tuple[str, list[str], bytes, str]]:
        assert self.population is not None
        population = self.population
        size = 20  # max_messages: the server's default page size
        pros = population.groups["read_pros"][1:]
        liste_keys = [key for _, key in pros][: self.mode.read_connections]
        big_pro_key = population.groups["read_pros"][0][1]
        big_client_key = population.groups["fill_clients"][0][1]
        liste_deep = max(1, int(population.big_pro_unread / size * 0.9))
        conversation_deep = max(1, int(population.big_length / size * 0.9))
        return [
            (
                names.LISTE,
                liste_keys,
                b"/liste 0\n",
                f"/liste page 0, {len(liste_keys)} pros with a few hundred unread each",
            ),
            (
                names.LISTE_DEEP,
                [big_pro_key],
                f"/liste {liste_deep}\n".encode(),
                f"/liste page {liste_deep:,} of the pro with {population.big_pro_unread:,} "
                "unread messages",
            ),
            (
                names.CONVERSATION_PAGE0,
                [big_client_key],
                f"/conversation {population.big_pro} 0\n".encode(),
                f"/conversation page 0 of a {population.big_length:,}-message conversation",
            ),
            (
                names.CONVERSATION_DEEP,
                [big_client_key],
                f"/conversation {population.big_pro} {conversation_deep}\n".encode(),
                f"/conversation page {conversation_deep:,} of the same conversation",
            ),
        ]

    def _profiles(
        self,
        loop: str,
        server: Target,
        targets: list[dict[str, Any]],
        message_lines: list[list[bytes]],
        clients: list[str],
    ) -> dict[str, Any]:
        """py-spy on the server under the /message load, and under every missed one."""
        wanted = [names.MESSAGE]
        for target in targets:
            if not target["pass"] and target.get("scenario") and target["scenario"] not in wanted:
                wanted.append(target["scenario"])
        wanted = [name for name in wanted if name != names.IDLE_MEMORY][: self.mode.max_profiles]
        seconds = self.mode.profile_seconds
        profiles: dict[str, Any] = {}
        reads = {name: (keys, line) for name, keys, line, _ in self._read_specs()}
        for name in wanted:
            self.log(f"[{loop}] profiling the server under {name} (py-spy, {seconds} s)")
            recorder = profile.Profiler(
                server.child.pid, self.work / f"profile-{loop}-{name}", seconds
            )

            def during(t_start: float, t_end: float, recorder: profile.Profiler = recorder):
                _sleep_until(t_start)
                recorder.start()
                return recorder.wait

            measure = seconds + 1.5
            if name.startswith("message_"):
                connections, depth = _connections_of(name, self.mode)
                self.throughput(
                    server,
                    clients,
                    message_lines,
                    connections,
                    depth,
                    message=True,
                    measure=measure,
                    during=during,
                )
            elif name in reads:
                keys, line = reads[name]
                self.throughput(
                    server,
                    keys,
                    [[line]],
                    self.mode.read_connections,
                    1,
                    measure=measure,
                    during=during,
                )
            elif name == names.HANDSHAKE:
                self._profile_generic(server, self.handshakes, recorder)
            elif name == names.DELIVERY:
                self._profile_generic(server, self.delivery, recorder)
            else:
                continue
            profiles[name] = recorder.summary()
        return profiles

    def _profile_generic(
        self, server: Target, run: Callable[[Target], Any], recorder: profile.Profiler
    ) -> None:
        recorder.start(delay=self.mode.warmup)
        run(server)
        recorder.wait()

    def close(self) -> None:
        self.pool.close()


# --- targets -------------------------------------------------------------------------------------

_THROUGHPUT_RATIOS = {
    "rps": "higher",
    "p50_ms": "lower",
    "p99_ms": "lower",
    "p999_ms": "lower",
    "cpu_us_per_request": "lower",
}


def evaluate_targets(
    loop: str, scenarios: dict[str, Any], population: Population
) -> list[dict[str, Any]]:
    """The targets of the issue, as ratios to the baseline on the same loop."""
    targets: list[dict[str, Any]] = []

    def add(
        target_id: str,
        label: str,
        scenario: str,
        measured: float | None,
        op: str,
        goal: float,
        unit: str,
    ) -> None:
        if measured is None or (isinstance(measured, float) and math.isnan(measured)):
            passed, margin = False, None
        elif op == ">=":
            passed = measured >= goal
            margin = measured / goal if goal else None
        else:
            passed = measured <= goal
            margin = goal / measured if measured > 0 else math.inf
        targets.append(
            {
                "id": target_id,
                "loop": loop,
                "label": label,
                "scenario": scenario,
                "measured": measured,
                "target": goal,
                "op": op,
                "unit": unit,
                "pass": passed,
                "margin": margin,
            }
        )

    message = scenarios[names.MESSAGE]
    add(
        "message_rps",
        "/message, 50 connections: req/s vs baseline",
        names.MESSAGE,
        message["ratios"]["rps"],
        ">=",
        0.3,
        "\u00d7",
    )
    add(
        "message_p99",
        "/message, 50 connections: p99 vs baseline",
        names.MESSAGE,
        message["ratios"]["p99_ms"],
        "<=",
        3.0,
        "\u00d7",
    )
    for name, label in (
        (names.LISTE, "/liste page 0 on 1M messages: req/s vs baseline"),
        (names.CONVERSATION_PAGE0, "/conversation page 0 on 1M messages: req/s vs baseline"),
        (names.CONVERSATION_DEEP, "/conversation deep page on 1M messages: req/s vs baseline"),
    ):
        add(f"{name}_rps", label, name, scenarios[name]["ratios"]["rps"], ">=", 0.4, "\u00d7")
    page0 = scenarios[names.CONVERSATION_PAGE0]["server"]["p50_ms"]
    deep = scenarios[names.CONVERSATION_DEEP]["server"]["p50_ms"]
    add(
        "conversation_deep_time",
        "/conversation deep page time vs page 0 (p50)",
        names.CONVERSATION_DEEP,
        deep / page0 if page0 else None,
        "<=",
        2.0,
        "\u00d7",
    )
    liste0 = scenarios[names.LISTE]["server"]["p50_ms"]
    liste_deep = scenarios[names.LISTE_DEEP]["server"]["p50_ms"]
    add(
        "liste_deep_time",
        f"/liste deep page ({population.big_pro_unread:,} unread) time vs page 0 (p50)",
        names.LISTE_DEEP,
        liste_deep / liste0 if liste0 else None,
        "<=",
        2.0,
        "\u00d7",
    )
    add(
        "handshake_rate",
        "connect + /connexion per second vs baseline handshakes",
        names.HANDSHAKE,
        scenarios[names.HANDSHAKE]["ratios"]["rps"],
        ">=",
        0.8,
        "\u00d7",
    )
    add(
        "idle_memory",
        "server memory per idle authenticated TLS connection",
        names.IDLE_MEMORY,
        scenarios[names.IDLE_MEMORY]["server"]["kib_per_connection"],
        "<=",
        64.0,
        "KiB",
    )
    add(
        "delivery_p99",
        f"live delivery p99 (sender's 200 to push line), "
        f"{scenarios[names.DELIVERY]['server']['listeners']} listeners",
        names.DELIVERY,
        scenarios[names.DELIVERY]["server"]["delivery_p99_ms"],
        "<=",
        50.0,
        "ms",
    )
    return targets


def calibration_budgets(
    points: list[dict[str, Any]], goals: tuple[float, ...]
) -> list[dict[str, Any]]:
    """For each process count and goal ratio: the work per request that still
    reaches the goal, interpolated between calibration points (None when even
    the lightest point misses it, or when the heaviest still reaches it)."""
    budgets = []
    for processes in sorted({point["processes"] for point in points}):
        curve = report.calibration_curve(points, processes)
        for goal in goals:
            allowed: float | None = None
            below = [work for work, ratio in curve if ratio >= goal]
            if below and len(below) < len(curve):
                # the last point at or above the goal, and the next one under it
                index = len(below) - 1
                (w0, r0), (w1, r1) = curve[index], curve[index + 1]
                allowed = w0 + (r0 - goal) * (w1 - w0) / (r0 - r1) if r0 != r1 else w0
            budgets.append(
                {
                    "processes": processes,
                    "goal": goal,
                    "work_us": None if allowed is None else round(allowed, 1),
                    "lightest": curve[0] if curve else None,
                    "heaviest": curve[-1] if curve else None,
                }
            )
    return budgets


# --- helpers -------------------------------------------------------------------------------------


def _connections_of(name: str, mode: Mode) -> tuple[int, int]:
    connections = int(name.rsplit("_", 1)[1])
    depth = 1 if "_closed_" in name else mode.pipeline_depth
    return connections, depth


def _pair(
    kind: str,
    description: str,
    server: dict[str, Any],
    baseline: dict[str, Any],
    ratio_keys: dict[str, str],
) -> dict[str, Any]:
    ratios = {}
    for key in ratio_keys:
        a, b = server.get(key), baseline.get(key)
        # A ratio of signed figures (a push may beat the 200) would mean nothing.
        ratios[key] = round(a / b, 4) if a is not None and b and a >= 0 and b > 0 else None
    return {
        "kind": kind,
        "description": description,
        "server": server,
        "baseline": baseline,
        "ratios": ratios,
        "better": ratio_keys,
    }


def _floats(raw: bytes) -> array[float]:
    values = array("d")
    values.frombytes(raw)
    return values


def _percentiles(values: array[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p99_ms": None, "p999_ms": None, "mean_ms": None, "max_ms": None}
    import numpy

    data = numpy.frombuffer(values, dtype=numpy.float64) * 1000.0
    p50, p99, p999 = numpy.percentile(data, [50, 99, 99.9])
    return {
        "p50_ms": round(float(p50), 4),
        "p99_ms": round(float(p99), 4),
        "p999_ms": round(float(p999), 4),
        "mean_ms": round(float(data.mean()), 4),
        "max_ms": round(float(data.max()), 4),
    }


def _per_request(cpu_seconds: float, count: int) -> float | None:
    return round(cpu_seconds / count * 1e6, 2) if count else None


def _combine(results: list[dict[str, Any]], costs: dict[str, Any]) -> dict[str, Any]:
    measure = costs["measure"]
    latencies = array("d")
    codes: dict[str, int] = {}
    all_codes: dict[str, int] = {}
    errors: list[str] = []
    for result in results:
        latencies.extend(_floats(result["latencies"]))
        for code, n in result["codes"].items():
            codes[code] = codes.get(code, 0) + n
        for code, n in result["all_codes"].items():
            all_codes[code] = all_codes.get(code, 0) + n
        errors.extend(result["errors"])
    count = sum(result["count"] for result in results)
    generator_cpu = sum(result.get("cpu_seconds", 0.0) for result in results)
    return {
        "requests": count,
        "seconds": measure,
        "rps": round(count / measure, 1),
        **_percentiles(latencies),
        "codes": codes,
        "all_codes": all_codes,
        "non_200": sum(n for code, n in all_codes.items() if code != "200"),
        "unanswered": sum(result.get("unanswered", 0) for result in results),
        "errors": errors[:10],
        "error_count": sum(result.get("error_count", 0) for result in results),
        "connected": costs["connected"],
        "warm_seconds": costs["warm_seconds"],
        "server_cpu_seconds": round(costs["cpu_seconds"], 3),
        "server_cpu_share": round(costs["cpu_seconds"] / measure, 3),
        "cpu_us_per_request": _per_request(costs["cpu_seconds"], count),
        "generator_cpu_share": round(generator_cpu / measure, 3),
        "rss_kib": costs["rss_kib"],
        "threads": costs["threads"],
    }


def _stored_messages(database: Path, population: Population) -> int:
    senders = population.ids("msg_clients") + population.ids("push_clients")
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        placeholders = ",".join("?" * len(senders))
        return int(
            connection.execute(
                f"SELECT count(*) FROM messages WHERE sender_id IN ({placeholders})", senders
            ).fetchone()[0]
        )
    finally:
        connection.close()


def _scan_log(path: Path) -> dict[str, Any]:
    try:
        lines = path.read_text("utf-8", "replace").splitlines()
    except FileNotFoundError:
        return {}
    interesting = [
        line
        for line in lines
        if any(word in line for word in ("Traceback", "ERROR", "Error", "WARNING", "exception"))
    ]
    return {
        "lines": len(lines),
        "tracebacks": sum("Traceback" in line for line in lines),
        "errors": sum(" ERROR " in line for line in lines),
        "warnings": sum(" WARNING " in line for line in lines),
        "sample": interesting[:15],
    }


def _sleep_until(instant: float) -> None:
    left = instant - time.monotonic()
    if left > 0:
        time.sleep(left)


def _write_config(path: Path, settings: dict[str, Any]) -> None:
    path.write_text(toml_document(settings), encoding="utf-8")


# --- the command ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds: the test suite's run")
    parser.add_argument(
        "--output-dir",
        type=Path,
        help="write the JSON, benchmarks.md and img/bench-*.png here "
        "(default: bench/results/ and docs/; --quick: bench/results/tmp-quick/)",
    )
    parser.add_argument("--loops", help="comma-separated: asyncio,uvloop (default: the mode's)")
    parser.add_argument("--messages", type=int, help="messages in the filled database")
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profiles")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="run nothing: rebuild the page and plots from a results file",
    )
    args = parser.parse_args(argv)

    mode = QUICK if args.quick else FULL
    if args.loops:
        mode = replace(mode, loops=tuple(name.strip() for name in args.loops.split(",")))
    if args.messages:
        mode = replace(mode, plan=replace(mode.plan, messages=args.messages))
    if args.output_dir is not None:
        out = args.output_dir.resolve()
        outputs = report.Outputs(json_dir=out, markdown=out / "benchmarks.md", images=out / "img")
    elif args.quick:
        out = ROOT / "bench" / "results" / "tmp-quick"
        outputs = report.Outputs(json_dir=out, markdown=out / "benchmarks.md", images=out / "img")
    else:
        outputs = report.Outputs(
            json_dir=ROOT / "bench" / "results",
            markdown=ROOT / "docs" / "benchmarks.md",
            images=ROOT / "docs" / "img",
        )

    if args.render is not None:
        import json

        results = json.loads(args.render.read_text("utf-8"))
        outputs = replace(outputs, json_dir=args.render.parent)
        for path in report.write_all(results, outputs, write_json=False):
            print(f"wrote {_display(path)}")
        return 0

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="tchatator-bench-"))
    bench: Bench | None = None
    results: dict[str, Any] = {
        "version": 1,
        "mode": mode.name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": procs.commit_hash(),
        "source_digest": procs.source_digest(),
        "machine": procs.machine_description(),
        "settings": {key: value for key, value in asdict(mode).items() if key != "plan"}
        | {"workers": args.workers, "fill": asdict(mode.plan)},
        "loops": {},
    }
    try:
        bench = Bench(mode, work, args.workers, not args.no_profile)
        results["fill"] = bench.prepare()
        for loop in mode.loops:
            results["loops"][loop] = bench.run_loop(loop)
        results["generator"] = {
            "processes": args.workers,
            "event_loop": "uvloop",
            "note": "load processes share the 2 cores with the process under test",
        }
    finally:
        if bench is not None:
            bench.close()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    results["duration_seconds"] = round(time.monotonic() - started, 1)
    written = report.write_all(results, outputs)
    for path in written:
        print(f"wrote {_display(path)}")
    print(report.console_summary(results))
    return 0


def _display(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(ROOT))
    return str(path)
