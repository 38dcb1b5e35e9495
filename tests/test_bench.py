"""The benchmark works end to end: ``python -m bench.run --quick`` in a subprocess (DynamoDB Local, a uvicorn server
per variant, each DynamoDB variant behind a counting proxy, the load generator), checked on its JSON results and its
report. Counts only, never timings."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXPECTED_DYNAMO_OPS = {"anon": 0, "read": 1, "static": 0, "write": 1, "change": 2, "clear": 2, "raw": 1}
TRANSPORT_VARIANTS = ("dynamo", "dynamo-aiohttp")
VARIANT_NAMES = (
    "bare app",
    "Starlette `SessionMiddleware`",
    "starsessions",
    "`DynamoSessionMiddleware`, botocore transport",
    "`DynamoSessionMiddleware`, aiohttp transport",
    "raw `GetItem`",
)
TARGETS = ("aiohttp <= 0.45x botocore", "4x the bare app", "0.8x min(bare app", "probe p99 <= 5 ms", "0.9x in-flight")


def committed_report() -> dict[str, bytes]:
    return {name: (ROOT / "docs" / name).read_bytes() for name in ("benchmarks.md", "benchmarks.png")}


@pytest.mark.dynamodb_local
def test_quick_run(tmp_path: Path) -> None:
    before = committed_report()
    command = [sys.executable, "-m", "bench.run", "--quick"]
    run = subprocess.run(command, cwd=ROOT, check=True, timeout=240, stdin=subprocess.DEVNULL, capture_output=True)
    # A quick run writes to a temporary folder of its own, says where, and leaves the committed page alone.
    assert committed_report() == before
    [written] = re.findall(r"wrote (\S+)/benchmarks\.md and", run.stdout.decode() + run.stderr.decode())
    out = Path(written)
    assert out.resolve() != (ROOT / "docs").resolve()
    report_dir = Path(shutil.move(out, tmp_path / "report"))
    results_file = report_dir / "results.json"

    results = json.loads(results_file.read_text())
    for variant in TRANSPORT_VARIANTS:
        for scenario, expected in EXPECTED_DYNAMO_OPS.items():
            for concurrency in (1, 64):
                samples = results["samples"][f"{variant}/{scenario}/{concurrency}"]
                assert samples
                for sample in samples:
                    assert math.isclose(sum(sample["ops"].values()), expected), (variant, scenario, sample["ops"])
        assert results["event_loop"][f"{variant}/{results['pools'][variant]}"]["ops_per_request"] == 1
    assert results["samples"]["dynamo-aiohttp/read/1"][0]["ops"] == {"GetItem": 1.0}
    assert results["samples"]["starsessions/read/1"][0]["ops"] == {"read": 1.0, "write": 1.0}  # no change detection
    assert results["idle_refresh"]["gets"] == results["idle_refresh"]["reads"]
    assert results["idle_refresh"]["refresh_writes"] <= results["idle_refresh"]["windows"]

    report = (report_dir / "benchmarks.md").read_text()
    for name in VARIANT_NAMES:
        assert name in report
    assert "| first write | `DynamoSessionMiddleware`, aiohttp transport |" in report
    targets = report.split("## Targets", 1)[1].split("\n## ", 1)[0]
    assert "| target | figure | verdict |" in targets
    for target in TARGETS:
        assert any(target in line and ("**met**" in line or "**not met**" in line) for line in targets.splitlines())
    assert "| DynamoDB requests per request exactly 0/1/1/2/2" in targets
    assert (report_dir / "benchmarks.png").read_bytes().startswith(b"\x89PNG")


def test_the_sealing_benchmark_prints_its_figures() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.sealing", "--rounds", "20"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for line, call in zip(lines, ("find", "save"), strict=False):
        assert re.fullmatch(rf"{call} of a 1024 B session: sealed [\d.]+ us, plain [\d.]+ us: [+-][\d.]+ us", line)
    assert lines[2] == "(mean of 20 calls, best of 5 runs, botocore's Stubber answering: no network)"
