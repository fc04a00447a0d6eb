"""Database commands per petition, from the intake POST to the acknowledgement SMS sent,
across the four services, counted with a pymongo ``monitoring.CommandListener``.

The four services run in this process on the real Kafka and server: intake's web app
(Flask test client) and each service's consumer, polled in turn, and notify's sender
with an SMS provider that records instead of calling a gateway. Each petition is
followed on its own - POST, then every consumer until the SMS is sent, then until
every consumer is quiet (grouping may come after the SMS) - so each command is
charged to one petition and one service (by database name). Timed jobs (outbox
relays, sweeps, the sender's idle polls) are not run: they cost the same with no
petition at all. The sender's pass runs only when the SMS was not sent at once by
notify's consumer (its writer), as a sender job would then find and send it. Intake's
centroid walk (a timed job of its worker, every INTAKE_CENTROID_TRUST_SECONDS, that
keeps the grouping's index fresh whatever the load) is run between petitions when due,
as the worker would, and its commands are reported apart, per minute.

    .venv/bin/python bench/commands.py [--petitions 30] [--burst 30]   # prints JSON

Then a burst: ``--burst`` petitions POSTed together and followed to their last SMS and
quiet consumers, all commands divided by the petitions (what batching a poll saves).

Runs unchanged on older code (same bootstraps), which is how bench/README.md's
"before" figures were taken.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from pymongo import monitoring

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SERVICES = ("intake", "scheduling", "followup", "notify")


class Counter(monitoring.CommandListener):
    """Commands sent, by (database, "command:collection")."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def started(self, event) -> None:
        coll = event.command.get(event.command_name)
        name = f"{event.command_name}:{coll}" if isinstance(coll, str) else event.command_name
        key = (event.database_name, name)
        self.counts[key] = self.counts.get(key, 0) + 1

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass

    def take(self) -> dict[tuple[str, str], int]:
        counts, self.counts = self.counts, {}
        return counts


class Recorder:
    """An SMS provider that keeps what it is given."""

    name = "generic"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to_e164: str, text: str, idempotency_key: str):
        from services.notify.channels import SendResult

        self.sent.append((to_e164, text))
        return SendResult("generic", idempotency_key, "sent", 1)


def by_service(counts: dict[tuple[str, str], int], prefix: str) -> dict[str, int]:
    out = dict.fromkeys(SERVICES, 0)
    for (db, _), n in counts.items():
        name = db[len(prefix):] if db.startswith(prefix) else db
        out[name if name in out else "other"] = out.get(name if name in out else "other", 0) + n
    return out


def ready(consumer) -> None:
    deadline = time.monotonic() + 60
    while not consumer._consumer.assignment():
        consumer.poll_once(timeout_ms=200)
        if time.monotonic() > deadline:
            raise RuntimeError("no partitions assigned")


def burst(size: int, web, bodies, consumers, sms, notify, counter: Counter,
          prefix: str) -> dict[str, Any]:
    """``size`` petitions submitted together, then every consumer polled in turn until
    each petition's SMS is sent and every consumer is quiet: all commands / petitions.
    A consumer's poll then holds many events, which is where handling a poll at once
    (fewer round trips) shows. The sender's pass runs only when a round handled nothing
    and SMS are still missing (a timed job would then find them)."""
    from lib import JSON

    counter.take()
    codes = []
    for _ in range(size):
        phone, body = bodies.next()
        response = web.post("/api/v1/petitions", data=body, headers=JSON)
        assert response.status_code == 201, response.data
        codes.append((phone, response.json["tracking_code"]))
    post = sum(counter.take().values())
    deadline = time.monotonic() + 120
    quiet_since = None
    while True:
        handled = sum(c.poll_once(timeout_ms=100) for c in consumers)
        sent = {(to, code) for to, text in sms.sent for _, code in codes if code in text}
        missing = [pc for pc in codes if pc not in sent]
        if missing and not handled:
            notify.send_due()
        if handled or missing:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 1.5:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(missing)} acknowledgements missing after 120 s")
    counts = counter.take()
    total = post + sum(counts.values())
    by_cmd: dict[str, float] = {}
    for (db, cmd), n in counts.items():
        key = f"{db[len(prefix) + 1:]}.{cmd}"
        by_cmd[key] = round(by_cmd.get(key, 0) + n / size, 2)
    return {"petitions": size, "post_per_petition": round(post / size, 2),
            "per_petition": round(total / size, 2),
            "after_post_by_service": {s: round(n / size, 2)
                                        for s, n in by_service(counts, f"{prefix}_").items()},
            "after_post_by_command": dict(sorted(by_cmd.items()))}


def run(petitions: int = 30, warm: int = 3, burst_size: int = 30) -> dict[str, Any]:
    prefix = "cmd" + uuid.uuid4().hex[:8]
    os.environ.update({"TOPIC_PREFIX": f"{prefix}.", "DB_PREFIX": f"{prefix}_",
                       "PUBLIC_RATE_LIMIT": "1000000", "NOTIFY_SMS_RATE": "1000000",
                       "NOTIFY_QUIET_START": "00:00", "NOTIFY_QUIET_END": "00:00",
                       "LOG_LEVEL": "WARNING"})
    from services.common.config import Settings
    from services.common.kafka_security import setup, teardown

    # the services run on their own principals: their ACLs and topics for this prefix,
    # made as an operator would (as the e2e fixture does)
    setup(Settings.from_env(), prefix=f"{prefix}.")
    counter = Counter()
    monitoring.register(counter)  # before any client exists: listeners attach at creation

    from lib import JSON, Bodies

    from services.followup import bootstrap as followup
    from services.intake import bootstrap as intake
    from services.notify import bootstrap as notify
    from services.notify.service import Senders
    from services.scheduling import bootstrap as scheduling

    sms = Recorder()
    apps = {"intake": intake.build(), "scheduling": scheduling.build(),
            "followup": followup.build()}
    base = notify.build()
    apps["notify"] = notify.build(senders=Senders(email=base.service.senders.email, sms=sms))
    for app in apps.values():
        app.prepare()
    consumers = [apps["intake"].consumer(), apps["scheduling"].consumer(),
                 apps["followup"].dialogue_consumer(), apps["notify"].consumer()]
    for consumer in consumers:
        ready(consumer)
    web = apps["intake"].web().test_client()
    bodies = Bodies(seed=7)
    notify_consumer = consumers[-1]

    rows = []
    # intake's timed centroid walk, where the code has one (older code: none)
    walk = getattr(apps["intake"].intake.grouping, "walk", None)
    every = float(getattr(apps["intake"].settings, "centroid_trust_seconds", 5.0))
    walked_at, walk_commands, started = 0.0, 0, time.monotonic()
    for i in range(warm + petitions):
        counter.take()
        if walk and time.monotonic() - walked_at >= every:
            walk()
            walked_at = time.monotonic()
            if i >= warm:
                walk_commands += sum(counter.take().values())
            counter.take()
        if i == warm:
            started = time.monotonic()
        phone, body = bodies.next()
        response = web.post("/api/v1/petitions", data=body, headers=JSON)
        assert response.status_code == 201, response.data
        code = response.json["tracking_code"]
        post = counter.take()
        until_sms: dict[tuple[str, str], int] = {}
        deadline = time.monotonic() + 60
        def acked(phone: str = phone, code: str = code) -> bool:
            return any(to == phone and code in text for to, text in sms.sent)

        while not acked():
            for consumer in consumers:
                # The sender job runs only when the consumer did not send the SMS at
                # once itself: its passes are a timed job (above), not the petition's.
                if (consumer.poll_once(timeout_ms=50) and consumer is notify_consumer
                        and not acked()):
                    apps["notify"].send_due()
            if time.monotonic() > deadline:
                raise RuntimeError("no acknowledgement SMS within 60 s")
        for k, v in counter.take().items():
            until_sms[k] = until_sms.get(k, 0) + v
        after: dict[tuple[str, str], int] = {}
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < 1.5:  # what still follows: grouping…
            if sum(c.poll_once(timeout_ms=100) for c in consumers):
                quiet_since = time.monotonic()
        for k, v in counter.take().items():
            after[k] = after.get(k, 0) + v
        if i >= warm:
            rows.append({"post": post, "until_sms": until_sms, "after": after})

    minutes = (time.monotonic() - started) / 60
    if walk:  # the burst below starts with a fresh index, as a worker's would be
        walk()
    together = burst(burst_size, web, bodies, consumers, sms, apps["notify"], counter,
                     prefix) if burst_size else None

    def total(key: str) -> list[int]:
        return [sum(r[key].values()) for r in rows]

    post = total("post")
    to_sms = [p + s for p, s in zip(post, total("until_sms"), strict=True)]
    whole = [t + a for t, a in zip(to_sms, total("after"), strict=True)]
    services = {s: statistics.median(
        by_service(r["post"], f"{prefix}_")[s] + by_service(r["until_sms"], f"{prefix}_")[s]
        + by_service(r["after"], f"{prefix}_")[s] for r in rows) for s in SERVICES}
    names: dict[str, int] = {}
    for part in ("post", "until_sms", "after"):
        for (db, cmd), n in rows[-1][part].items():
            key = f"{db[len(prefix) + 1:]}.{cmd}"
            names[key] = names.get(key, 0) + n
    # every command's mean per petition over the run (the last petition alone may be
    # the one that met a rare case)
    means: dict[str, float] = {}
    for row in rows:
        for part in ("post", "until_sms", "after"):
            for (db, cmd), n in row[part].items():
                key = f"{db[len(prefix) + 1:]}.{cmd}"
                means[key] = means.get(key, 0) + n / len(rows)
    for consumer in consumers:
        consumer.close()
    for app in apps.values():
        (getattr(app, "close", None) or app.kit.close)()
    teardown(Settings.from_env(), f"{prefix}.")
    from pymongo import MongoClient

    client = MongoClient(os.environ.get("MONGO_URL", "mongodb://127.0.0.1:27017/"))
    for name in client.list_database_names():
        if name.startswith(f"{prefix}_"):
            client.drop_database(name)
    return {"petitions": len(rows),
            "timed_walk_commands_per_minute": round(walk_commands / minutes, 1),
            "post_median": statistics.median(post), "post_max": max(post),
            "to_sms_median": statistics.median(to_sms), "to_sms_max": max(to_sms),
            "end_to_end_median": statistics.median(whole), "end_to_end_max": max(whole),
            "by_service_median": services, "burst": together,
            "by_command_mean": {k: round(v, 2) for k, v in sorted(means.items())},
            "last_petition_by_command": dict(sorted(names.items()))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--petitions", type=int, default=30)
    parser.add_argument("--burst", type=int, default=30,
                        help="petitions submitted together afterwards (0: none)")
    args = parser.parse_args()
    print(json.dumps(run(args.petitions, burst_size=args.burst), indent=1,
                     ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
