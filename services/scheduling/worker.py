"""``python -m services.scheduling.worker``: the intake consumer and the outbox relay."""

from __future__ import annotations

from services.common.runtime import Worker
from services.scheduling import bootstrap


def main() -> None:
    built = bootstrap.build()
    built.prepare()
    worker = Worker("scheduling")
    worker.consume(built.consumer())
    worker.every(1.0, built.outbox.relay_once, "outbox-relay")
    try:
        worker.run_forever()
    finally:
        built.kit.close()


if __name__ == "__main__":
    main()
