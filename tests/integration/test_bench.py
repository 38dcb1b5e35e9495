"""The benchmark works end to end: ``python -m bench.run --quick`` in a subprocess (DynamoDB Local, a uvicorn server
per variant, each DynamoDB variant behind a counting proxy, the load generator), checked on its JSON results and its
report, which go to the temporary folder it prints while the committed page in docs/ stays as it was. Counts only,
never timings."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.environment import without_aws

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_DYNAMO_OPS = {"anon": 0, "read": 1, "static": 0, "write": 1, "change": 2, "clear": 2, "raw": 1}
TRANSPORT_VARIANTS = ("dynamo", "dynamo-auto")
VARIANT_NAMES = (
    "bare app",
    "Starlette `SessionMiddleware`",
    "starsessions",
    "`DynamoSessionMiddleware`, botocore transport",
    "`DynamoSessionMiddleware`, default transport (aiohttp)",
    "raw `GetItem`",
)
COMMITTED = (ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "benchmarks.png")
PRINTED_FOLDER = re.compile(r"The quick run's report \(docs/ is left as it is\): (\S+)")
TARGETS = (
    "default <= 0.36x botocore",
    "4x the bare app",
    "0.8x min(bare app",
    "20 ms store, 200 in flight: no-session probe p99 <= 5 ms",
    "20 ms store: session req/s >= 0.9x ideal",
    "80 ms store, 200 in flight: session req/s, default >= 0.9x botocore's",
    "80 ms store: no-session probe p99 <= 5 ms",
)


@dataclass(frozen=True)
class QuickRun:
    """What a quick run left: the committed page's bytes before it, its standard output, and its temporary root."""

    committed_before: dict[Path, bytes]
    stdout: str
    tmp_root: Path


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    """``python -m bench.run --quick`` as ``scripts/bench --quick`` runs it, with no ``--out`` or ``--json``, and
    ``TMPDIR`` in pytest's temporary folder, so the folder it makes is cleaned up with the others; no AWS setting
    of the caller reaches it."""
    tmp_root = tmp_path_factory.mktemp("bench-tmp")
    committed_before = {path: path.read_bytes() for path in COMMITTED}
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick"],
        cwd=ROOT,
        check=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        env={**without_aws(os.environ), "TMPDIR": str(tmp_root)},
    )
    return QuickRun(committed_before, result.stdout, tmp_root)


def report_folder(run: QuickRun) -> Path:
    """The folder the quick run printed as holding its report."""
    match = PRINTED_FOLDER.search(run.stdout)
    assert match is not None, run.stdout
    return Path(match.group(1))


@pytest.mark.dynamodb_local
def test_a_quick_run_leaves_the_committed_benchmark_page_and_chart_as_they_were(quick_run: QuickRun) -> None:
    assert {path: path.read_bytes() for path in COMMITTED} == quick_run.committed_before


@pytest.mark.dynamodb_local
def test_a_quick_run_prints_the_temporary_folder_that_holds_its_report(quick_run: QuickRun) -> None:
    folder = report_folder(quick_run)
    assert folder.parent == quick_run.tmp_root
    assert sorted(path.name for path in folder.iterdir()) == ["benchmarks.md", "benchmarks.png", "results.json"]


@pytest.mark.dynamodb_local
def test_quick_run(quick_run: QuickRun) -> None:
    tmp_path = report_folder(quick_run)
    results_file = tmp_path / "results.json"
    results = json.loads(results_file.read_text())
    for variant in TRANSPORT_VARIANTS:
        for scenario, expected in EXPECTED_DYNAMO_OPS.items():
            for concurrency in (1, 64):
                samples = results["samples"][f"{variant}/{scenario}/{concurrency}"]
                assert samples
                for sample in samples:
                    assert math.isclose(sum(sample["ops"].values()), expected), (variant, scenario, sample["ops"])
        for delay in (20, 80):
            check = results["event_loop"][f"{variant}/{delay}"]
            assert check["ops_per_request"] == 1
            # the proxy timed the store calls of the load: each is held the delay, at least
            assert check["store_under_load_ms"] >= delay
            assert check["ideal"] == pytest.approx(check["limit"] / check["store_under_load_ms"] * 1000)
            assert 0 <= check["run_queue_share"] <= 1
            # hundreds of session requests allocate far more than one young generation holds
            assert check["gc_collections"] >= 1
            assert check["gc_full_collections"] <= check["gc_collections"]
            assert check["gc_over_5ms"] <= check["gc_collections"]
    assert results["event_loop"]["dynamo/20"]["limit"] == results["pools"]["dynamo"]
    for delay in (20, 80):
        lowered = results["ceilings"][f"{delay}/8"]
        assert lowered["pool"] == 8
        assert lowered["limit"] <= 8  # the ceiling bounds the adaptive limit
        assert lowered["ops_per_request"] == 1
    assert 4 <= results["event_loop"]["dynamo-auto/80"]["limit"] <= results["pools"]["dynamo-auto"]
    assert results["samples"]["dynamo-auto/read/1"][0]["ops"] == {"GetItem": 1.0}
    assert results["samples"]["starsessions/read/1"][0]["ops"] == {"read": 1.0, "write": 1.0}  # no change detection
    assert results["idle_refresh"]["gets"] == results["idle_refresh"]["reads"]
    assert results["idle_refresh"]["refresh_writes"] <= results["idle_refresh"]["windows"]

    report = (tmp_path / "benchmarks.md").read_text()
    for name in VARIANT_NAMES:
        assert name in report
    assert "| first write | `DynamoSessionMiddleware`, default transport (aiohttp) |" in report
    targets = report.split("## Targets", 1)[1].split("\n## ", 1)[0]
    assert "| target | figure | verdict |" in targets
    for target in TARGETS:
        assert any(target in line and ("**met**" in line or "**not met**" in line) for line in targets.splitlines())
    assert "| DynamoDB requests per request exactly 0/1/1/2/2" in targets
    assert "| garbage collections under load: all / full / over 5 ms; the longest (ms) |" in report
    assert "| store call alone (delay + raw p50 @1) / under the load, at the proxy (ms) |" in report
    assert "| server ready but waiting for a CPU (share of the time under load) |" in report
    ceilings = report.split("## The in-flight ceiling: session throughput against the probe", 1)[1]
    assert "| 20 ms | default, 8 |" in ceilings
    assert "| 80 ms | botocore, 32 |" in ceilings
    assert (tmp_path / "benchmarks.png").read_bytes().startswith(b"\x89PNG")


def test_the_sealing_benchmark_prints_its_figures() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.sealing", "--rounds", "20"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for line, call in zip(lines, ("find", "save"), strict=False):
        assert re.fullmatch(rf"{call} of a 1024 B session: sealed [\d.]+ us, plain [\d.]+ us: [+-][\d.]+ us", line)
    assert lines[2] == "(mean of 20 calls, best of 5 runs, botocore's Stubber answering: no network)"
