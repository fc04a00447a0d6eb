"""``python -m services.intake.worker``: consumers, outbox relay and timed sweeps."""

from __future__ import annotations

from services.common.kit import run_worker
from services.intake import bootstrap


def main() -> None:
    run_worker(bootstrap.build)


if __name__ == "__main__":
    main()
