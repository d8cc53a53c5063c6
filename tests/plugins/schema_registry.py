"""A real Schema Registry for the tests: Apicurio Registry with its Confluent-compatible REST API.

Confluent's own registry is not on Maven Central and Karapace is not on PyPI; Apicurio Registry 2.4.2.Final
is built from its Maven Central artifacts by `python -m tests.components.install schema-registry` (see
tests/components/schema-registry/pom.xml for why that version) and runs here with Java 17, in-memory
storage, on a free 127.0.0.1 port. One server per test session, stopped by its PID; tests isolate
themselves by using fresh topic (and so subject) names (`sr_topic`).

Measured on the 2-core machine: ready in ~3.5 s, ~225 MB resident (JVM heap capped at 256 MB).

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
import json
import os
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

    @property
    def url(self) -> str:
        """What a user gives `--schema-registry`: the Confluent-compatible API's base URL."""
        return f"http://127.0.0.1:{self.port}{API}"

    def start(self) -> None:
        assert self.process is None, "the schema registry is already running"
        args = [
            "java",
            "-Xmx256m",
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
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


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
