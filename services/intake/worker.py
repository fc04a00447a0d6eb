"""``python -m services.intake.worker``: consumers, outbox relay and timed sweeps."""

from __future__ import annotations

from services.common.runtime import Worker
from services.intake import bootstrap


def main() -> None:
    built = bootstrap.build()
    built.prepare()
    intake = built.intake
    worker = Worker("intake")
    worker.consume(built.consumer())
    worker.every(1, intake.outbox.relay_once, "outbox-relay")
    worker.every(60, intake.sweep_trending, "trending-sweep")
    worker.every(60, intake.sweep_ungrouped, "ungrouped-sweep")
    worker.every(60, intake.limiter.sweep, "rate-limit-sweep")
    try:
        worker.run_forever()
    finally:
        built.kit.close()


if __name__ == "__main__":
    main()
