"""The real entry points: the worker process (SIGTERM stops it) and the WSGI app."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from services.followup import domain
from tests.helpers import events_on, wait_for
from tests.integration.followup.conftest import concluded, conclusion

ROOT = Path(__file__).resolve().parents[3]


def test_worker_handles_concluded_and_stops_on_sigterm(followup):
    s = followup.settings
    env = {**os.environ, "TOPIC_PREFIX": s.topic_prefix, "DB_PREFIX": s.db_prefix,
           "KAFKA_PARTITIONS": str(s.kafka_partitions), "DOITHOAI_ENV": "test",
           "LOG_LEVEL": "WARNING", "FOLLOWUP_SWEEP_SECONDS": "1"}
    check = subprocess.run([sys.executable, "-c", "from services.followup.app import app; "
                            "print(app.name)"], env=env, cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0 and check.stdout.strip() == "followup", check.stderr
    worker = subprocess.Popen([sys.executable, "-m", "services.followup.worker"], env=env,
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        followup.kit.bus.publish(concluded("dl-w", [conclusion(conclusion_id="kl-w")]))
        cid = domain.commitment_id("kl-w")
        wait_for(lambda: followup.store.get(cid), timeout=40, message="the worker's commitment")
        events = events_on(s, "followup.commitments", min_count=1)
        assert [e["type"] for e in events] == ["commitment.assigned"]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            code = worker.wait(timeout=40)
        except subprocess.TimeoutExpired:
            worker.kill()
            raise
    assert code == 0, worker.stderr.read().decode()[-2000:]
