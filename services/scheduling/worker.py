"""``python -m services.scheduling.worker``: the intake consumer and the outbox relay."""

from __future__ import annotations

from services.common.kit import run_worker
from services.scheduling import bootstrap


def main() -> None:
    run_worker(bootstrap.build)


if __name__ == "__main__":
    main()
