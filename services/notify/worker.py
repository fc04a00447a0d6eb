"""``python -m services.notify.worker``: the consumer, the sender and the outbox relay."""

from __future__ import annotations

from services.common.runtime import Worker
from services.notify import bootstrap


def main() -> None:
    app = bootstrap.build()
    app.prepare()
    worker = Worker("notify")
    worker.consume(app.consumer())
    worker.every(0.5, app.send_due, "send-due")
    worker.every(1.0, app.relay, "outbox-relay")
    worker.every(15.0, app.zns_timeouts, "zns-fallback")
    worker.every(60.0, app.sweep_quotas, "rate-limit-sweep")
    try:
        worker.run_forever()
    finally:
        app.close()


if __name__ == "__main__":
    main()
