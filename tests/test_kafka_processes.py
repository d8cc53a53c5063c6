"""The test brokers' JVMs die with the process that started them: a killed pytest (a CI timeout, a
developer's kill -9) must not leave Kafka running on the shared machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for a parent that never reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.kafka_real
def test_a_broker_jvm_dies_when_the_process_that_started_it_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from tests.kafkacluster import KafkaCluster
        cluster = KafkaCluster(Path({str(tmp_path)!r}))
        cluster.start()
        print(cluster.nodes[0].process.pid, flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    jvm = 0
    try:
        assert child.stdout is not None
        jvm = int(child.stdout.readline())
        assert "kafka.Kafka" in Path(f"/proc/{jvm}/cmdline").read_text()
        os.kill(child.pid, signal.SIGKILL)  # no atexit, no finally, no fixture teardown: only the kernel
        child.wait()
        # The kernel's SIGTERM starts the broker's clean shutdown; its end is what is waited for.
        deadline = time.monotonic() + 60
        while _alive(jvm) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(jvm), f"the broker JVM (pid {jvm}) outlived the killed process that started it"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if jvm and _alive(jvm):
            os.kill(jvm, signal.SIGKILL)
