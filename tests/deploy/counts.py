"""Prints the rendered object counts per values file: ``python -m tests.deploy.counts``."""

from __future__ import annotations

from collections import Counter

from tests.deploy.chart import VALUES, rendered


def main() -> None:
    counts = {name: Counter(o["kind"] for o in rendered(name)) for name in VALUES}
    kinds = sorted(set().union(*counts.values()))
    names = list(VALUES)
    print("| kind | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for kind in kinds:
        print(f"| {kind} | " + " | ".join(str(counts[n][kind]) for n in names) + " |")
    print("| **total** | " + " | ".join(str(sum(counts[n].values())) for n in names) + " |")


if __name__ == "__main__":
    main()
