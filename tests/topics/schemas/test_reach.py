"""Files with schemas and no `--schema-registry`: the plan reaches the platform's registry through an
in-process forward to its `schema-registry` Service.

Real: the Kubernetes side, as in test_reach.py (the real control plane holds the platform's Services from a
real `up`; the forward is a real `pods/portforward` through the API server and kwok, which connects the
registry pod's port 8081 to a local server), and the Schema Registry behind it. The platform's registry
(Confluent's) serves its API at the root, Apicurio under /apis/ccompat/v7, so the pod's port is routed to a
small HTTP relay that adds the prefix (`_PrefixRelay`).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import RunCli
from tests.plugins.kafka import KafkaCluster
from tests.plugins.kube_real import RealCluster
from tests.plugins.schema_registry import SchemaRegistryServer

pytestmark = [pytest.mark.kube_real, pytest.mark.schema_registry_real, pytest.mark.kafka_real]


class _PrefixRelay(ThreadingHTTPServer):
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _Relay)


class _Relay(BaseHTTPRequestHandler):
    server: _PrefixRelay

    def _relay(self) -> None:
        self.server.paths.append(f"{self.command} {self.path}")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        request = urllib.request.Request(self.server.upstream + self.path, data=body, method=self.command)
        request.add_header("Content-Type", self.headers.get("Content-Type") or "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, data = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _relay

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def relay(schema_registry: SchemaRegistryServer) -> Iterator[_PrefixRelay]:
    server = _PrefixRelay(schema_registry.url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_plan_reaches_the_platforms_registry_through_a_forward(
    run_cli: RunCli,
    real_cluster: RealCluster,
    relay: _PrefixRelay,
    kafka: KafkaCluster,
    sr_topic: str,
    tmp_path: Path,
) -> None:
    assert run_cli(*real_cluster.args, "up", "--timeout", "120").exit_code == 0
    real_cluster.route(8081, relay.server_address[1])
    (tmp_path / "v.avsc").write_text(
        json.dumps({"type": "record", "name": "V", "fields": [{"name": "a", "type": "int"}]})
    )
    conf = tmp_path / "t.yaml"
    conf.write_text(f"topic: {{name: {sr_topic}, partitions: 1, replication-factor: 1, value-schema: v.avsc}}\n")

    result = run_cli(
        *real_cluster.args, "topics", "plan", str(conf), "--no-overrides",
        env={"PLATFORMCTL_BOOTSTRAP_SERVER": kafka.bootstrap},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"{sr_topic}-value (value of {sr_topic}, {conf.parent}/v.avsc): register (new subject)" in result.stdout
    forwards = {e.name for e in real_cluster.requests() if e.uri.endswith("/portforward?ports=8081")}
    assert {name.rsplit("-", 2)[0] for name in forwards if name} == {"schema-registry"}
    assert any(p.startswith(f"GET /subjects/{sr_topic}-value/versions/latest") for p in relay.paths)
