"""A real Schema Registry for the tests: Apicurio Registry with its Confluent-compatible REST API.

Confluent's own registry is not on Maven Central and Karapace is not on PyPI; Apicurio Registry 2.4.2.Final
is built from its Maven Central artifacts by `python -m tests.components.install schema-registry` (see
tests/components/schema-registry/pom.xml for why that version) and runs here with Java 17, in-memory
storage, on a free 127.0.0.1 port. One server per test session, stopped by its PID; tests isolate
themselves by using fresh topic (and so subject) names (`sr_topic`).

Cost, measured on the 2-core machine (`cpu_seconds()` at ready, the median of 3 starts): 1.6 s of CPU and
~148 MiB resident with the class-data-sharing archive and C1 only (3.0 s and ~165 MiB without the archive);
wall time to ready was 3.5 s on an idle machine and ~6 s with the machine at a load of 16.

What differs from Confluent's registry, as seen through platformctl (the registry's own answers, not a
model of them; tests that depend on one say so):
- the global compatibility level starts at NONE (Confluent: BACKWARD); the fixture sets BACKWARD, as a
  fresh Confluent registry has it;
- `GET /config/{subject}` answers NONE for a subject without its own level instead of 404/the global
  level, so platformctl shows such a subject's level as NONE on Apicurio;
- `POST /subjects/{subject}` (lookup) matches the schema text exactly; Confluent compares canonical forms
  (platformctl sends every schema in one compact form, so both find what it registered);
- the compatibility endpoint explains a refusal in `reason` (one string), Confluent in `messages` (a list);
- JSON Schema does not work in this build (its validator is not on Maven Central); Avro does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.components import require
from tests.plugins.etcd import free_port

API = "/apis/ccompat/v7"


@dataclass
class SchemaRegistryServer:
    home: Path
    log: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    _dumping: Path | None = None

    @property
    def url(self) -> str:
        """What a user gives `--schema-registry`: the Confluent-compatible API's base URL."""
        return f"http://127.0.0.1:{self.port}{API}"

    def start(self) -> None:
        assert self.process is None, "the schema registry is already running"
        cds, self._dumping = _cds_flags(self.home)
        args = [
            "java",
            "-Xmx256m",
            # C1 only: the tests send a few hundred requests, so the C2 compiler's work at start is wasted.
            "-XX:TieredStopAtLevel=1",
            *cds,
            f"-Dquarkus.http.port={self.port}",
            "-Dquarkus.http.host=127.0.0.1",
            "-jar",
            str(self.home / "apicurio-registry-runner.jar"),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()
        # A fresh Confluent registry checks BACKWARD compatibility; Apicurio starts with NONE.
        self.request("PUT", "/config", {"compatibility": "BACKWARD"})

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 120
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"the schema registry exited with {self.process.returncode}; see {self.log}")
            try:
                self.request("GET", "/subjects")
                return
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def request(self, method: str, path: str, body: object = None) -> object:
        """One call to the registry's REST API (for test setup and checks), its JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        with urllib.request.urlopen(req, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def versions(self, subject: str) -> list[int]:
        """The subject's versions, [] when it does not exist."""
        try:
            found = self.request("GET", f"/subjects/{subject}/versions")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return []
            raise
        assert isinstance(found, list)
        return [int(v) for v in found]

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)  # a first run dumps its class-data-sharing archive as it exits
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None
        if self._dumping is not None:
            _keep_archive(self._dumping)
            self._dumping = None

    def cpu_seconds(self) -> float:
        """User + system CPU the JVM used so far (what a start costs, whatever else the machine runs)."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cds_flags(home: Path) -> tuple[list[str], Path | None]:
    """(JVM flags, archive this process dumps or None): a class-data-sharing archive of the registry's
    classes, dumped by the first run that finds none (as it exits) next to the jars, and mapped by every
    later run; as the Kafka plugin does for the broker. -Xshare:auto ignores an archive that does not fit."""
    java = Path(os.path.realpath(shutil.which("java") or "java"))
    key = f"{java}:{java.stat().st_mtime_ns if java.exists() else 0}"
    archive = home / "cds" / f"registry-{hashlib.sha256(key.encode()).hexdigest()[:12]}.jsa"
    if archive.is_file():
        return [f"-XX:SharedArchiveFile={archive}", "-Xshare:auto"], None
    archive.parent.mkdir(exist_ok=True)
    partial = archive.with_name(f"{archive.name}.partial-{os.getpid()}")
    return [f"-XX:ArchiveClassesAtExit={partial}"], partial


def _keep_archive(partial: Path) -> None:
    final = partial.with_name(partial.name.rsplit(".partial-", 1)[0])
    if partial.is_file() and partial.stat().st_size > 0:
        partial.rename(final)
    else:
        partial.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def schema_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchemaRegistryServer]:
    home = require("schema-registry")
    server = SchemaRegistryServer(home, tmp_path_factory.mktemp("schema-registry") / "registry.log", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sr_topic() -> str:
    """A fresh topic name, so each test's subjects (`<topic>-key`, `<topic>-value`) start absent."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def own_schema_registry(tmp_path: Path) -> Iterator[SchemaRegistryServer]:
    """A registry of this test's own, for tests that stop it (its storage is in memory: a restart empties it)."""
    server = SchemaRegistryServer(require("schema-registry"), tmp_path / "registry.log", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
