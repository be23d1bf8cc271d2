"""The benchmark's quick mode runs end to end, so ``make bench`` never rots.

It starts the real server and the baseline, fills a small database, loads
both from separate processes over TLS, and writes the JSON, the Markdown page
and the plots into a temporary folder (never into docs/).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import scenarios as names

ROOT = Path(__file__).resolve().parent.parent

THROUGHPUT = set(names.THROUGHPUT)
SCENARIOS = THROUGHPUT | {names.HANDSHAKE, names.IDLE_MEMORY, names.DELIVERY}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_benchmark_writes_every_scenario(tmp_path: Path) -> None:
    docs_page = ROOT / "docs" / "benchmarks.md"
    before = docs_page.stat().st_mtime_ns if docs_page.exists() else None
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]

    [result_file] = list(tmp_path.glob("*.json"))
    results = json.loads(result_file.read_text())
    assert results["mode"] == "quick"
    assert results["machine"]["cores"] and results["machine"]["openssl"]
    assert results["commit"]
    assert results["loops"], "no event loop was measured"
    for loop, data in results["loops"].items():
        scenarios = data["scenarios"]
        assert set(scenarios) == SCENARIOS, loop
        for name in THROUGHPUT | {names.HANDSHAKE}:
            record = scenarios[name]
            for side in ("server", "baseline"):
                figures = record[side]
                assert figures["rps"] > 0, (loop, name, side)
                assert figures["p50_ms"] > 0 and figures["p99_ms"] > 0, (loop, name, side)
                assert figures["cpu_us_per_request"] > 0, (loop, name, side)
            assert record["ratios"]["rps"] > 0, (loop, name)
            assert record["ratios"]["p99_ms"] > 0, (loop, name)
            assert record["ratios"]["cpu_us_per_request"] > 0, (loop, name)
        idle = scenarios[names.IDLE_MEMORY]
        assert idle["server"]["connected"] == idle["server"]["connections"] > 0
        assert idle["server"]["kib_per_connection"] > 0
        assert idle["baseline"]["kib_per_connection"] > 0
        assert idle["ratios"]["kib_per_connection"] > 0
        delivery = scenarios[names.DELIVERY]
        for side in ("server", "baseline"):
            assert delivery[side]["messages"] > 0
            assert delivery[side]["end_to_end_p99_ms"] > 0
        assert delivery["ratios"]["end_to_end_p99_ms"] > 0
        assert data["targets"], loop
        assert data["durability"]["ok"], data["durability"]
        # The calibrated baselines really spend their work: each costs at
        # least that much CPU per request. (Not their speed against the plain
        # baseline: under `make test` another worker's tests share the cores,
        # and a ratio of 1.04 came out once; speed is the benchmark's to say.)
        calibration = data["extras"]["calibration"]
        assert {(p["work_us"], p["processes"]) for p in calibration["points"]} == {(50, 1), (50, 2)}
        for point in calibration["points"]:
            assert point["non_200"] == 0 and point["rps"] > 0, point
            assert point["cpu_us_per_request"] >= point["work_us"], point
            assert point["ratio"] > 0, point
        assert calibration["budgets"], loop

    page = (tmp_path / "benchmarks.md").read_text()
    assert "What a ratio target allows" in page
    assert "## Targets" in page and results["commit"] in page
    assert "PASS" in page or "MISS" in page
    images = sorted(path.name for path in (tmp_path / "img").glob("bench-*.png"))
    assert "bench-throughput.png" in images and "bench-latency.png" in images
    # Quick mode never touches the committed page.
    after = docs_page.stat().st_mtime_ns if docs_page.exists() else None
    assert after == before


def test_calibration_budget_is_read_off_the_curve() -> None:
    from bench.report import equivalent_work
    from bench.run import calibration_budgets

    points = [
        {"work_us": 10, "processes": 1, "ratio": 0.6},
        {"work_us": 50, "processes": 1, "ratio": 0.2},
        {"work_us": 50, "processes": 2, "ratio": 0.35},
    ]
    budgets = {(b["processes"], b["goal"]): b for b in calibration_budgets(points, (0.4, 0.3))}
    # 0.6 at 10 µs, 0.2 at 50 µs: 0.4 halfway (30 µs), 0.3 three quarters (40 µs)
    assert budgets[(1, 0.4)]["work_us"] == 30.0
    assert budgets[(1, 0.3)]["work_us"] == 40.0
    # one point under the goal: no interpolation, the page says "less than"
    assert budgets[(2, 0.4)]["work_us"] is None and budgets[(2, 0.4)]["lightest"] == (50, 0.35)
    curve = [(10, 0.6), (50, 0.2)]
    assert equivalent_work(curve, 0.5) == "\u2248 20 µs"
    assert equivalent_work(curve, 0.1) == "> 50 µs"
    assert equivalent_work(curve, 0.9) == "< 10 µs"
