"""``python -m services.followup.worker``: consumers, the outbox relay and the sweeps."""

from __future__ import annotations

from services.common.runtime import Worker
from services.followup import bootstrap


def main() -> None:
    app = bootstrap.build()
    app.prepare()
    worker = Worker("followup")
    worker.consume(app.dialogue_consumer())
    worker.consume(app.agency_consumer())
    worker.every(1, app.outbox.relay_once, "outbox-relay")
    worker.every(app.settings.sweep_seconds, app.sweep, "deadline-sweep")
    try:
        worker.run_forever()
    finally:
        app.close()


if __name__ == "__main__":
    main()
