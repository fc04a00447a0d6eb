"""Locust in headless mode, the cross-check of the intake benchmark's own load generator:
each user posts a petition (unique phone, consent) as soon as the last one is answered.

    locust -f bench/locustfile.py --headless -u 16 -r 16 -t 10s --host http://127.0.0.1:8001

bench/run.py runs it against intake and against the trivial endpoint at the peak
concurrency and reports its figures beside its own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from locust import FastHttpUser, task

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lib import Bodies

BODIES = Bodies(seed=os.getpid())


class Petitioner(FastHttpUser):
    @task
    def submit(self) -> None:
        _, body = BODIES.next()
        with self.client.post("/api/v1/petitions", data=body, catch_response=True,
                              headers={"Content-Type": "application/json"}) as response:
            if response.status_code != 201:
                response.failure(f"HTTP {response.status_code}")
