"""``python -m services.followup.worker``: consumers, the outbox relay and the sweeps."""

from __future__ import annotations

from services.common.kit import run_worker
from services.followup import bootstrap


def main() -> None:
    run_worker(bootstrap.build)


if __name__ == "__main__":
    main()
