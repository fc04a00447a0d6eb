"""Operator commands for the legal rules: days declared off, voter counts, historic
petitions. Registered into ``python -m services.cli``."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from services.common import workdays


def _date(text: str) -> date | None:
    """The day ``text`` names (YYYY-MM-DD); None, after saying why, if it names none."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        print(f"invalid date {text!r}: expected YYYY-MM-DD", file=sys.stderr)
        return None


def _day_off_add(args: argparse.Namespace) -> int:
    day = _date(args.date)
    if day is None:
        return 2
    path = args.file or workdays.days_off_file()
    added = workdays.add_override(path, day, args.province, args.reason, worked=args.worked)
    what = "working day" if args.worked else "day off"
    where = f"province {args.province}" if args.province else "nationwide"
    print(f"{day.isoformat()} {what} ({where}): " + ("added" if added else "already listed")
          + f" in {path}")
    return 0


def _day_off_list(args: argparse.Namespace) -> int:
    path = args.file or workdays.days_off_file()
    for province, entry in sorted(workdays.read_overrides(path).items()):
        for key in ("off", "work"):
            for item in entry.get(key) or []:
                print(f"{province}\t{key}\t{item['date']}\t{item.get('reason', '')}")
    return 0


def import_voters(db, path: str, source: str, as_of: date, now) -> tuple[int, list[str]]:
    """Read a CSV of ``ward_code,voters`` and store each count with its source and date."""
    from services.scheduling import voters

    with open(path, encoding="utf-8") as handle:
        rows, errors = voters.parse_csv(handle.read())
    return voters.import_counts(db, rows, source, as_of, now), errors


def _voters_import(args: argparse.Namespace) -> int:
    from services.common.clock import utcnow
    from services.scheduling.bootstrap import DB_NAME
    from services.scheduling.settings import scheduling_settings

    as_of = _date(args.date)
    if as_of is None:
        return 2
    from services.common.mongo import database

    db = database(scheduling_settings(), DB_NAME)
    stored, errors = import_voters(db, args.csv, args.source, as_of, utcnow())
    for line in errors:
        print(line, file=sys.stderr)
    print(f"{stored} communes' voter counts imported ({args.source}, {as_of.isoformat()}); "
          f"{len(errors)} rows refused")
    return 1 if errors and not stored else 0


def _import_historic(args: argparse.Namespace) -> int:
    import json

    from services.intake import bootstrap, historic

    mapping = historic.csv_mapping(args.mapping) if args.mapping else \
        historic.package_mapping()
    if mapping is None:
        print("vietnam-provinces as installed ships no pre-2025 conversion table: give the "
              "GSO table with --mapping old_new.csv (columns old_ward_code,new_ward_code)",
              file=sys.stderr)
        return 2
    app = bootstrap.build()
    app.prepare()
    try:
        report = historic.import_records(app.intake, historic.read_jsonl(args.jsonl), mapping)
    finally:
        app.kit.close()
    for item in report["unmapped"] + report["refused"]:
        print(json.dumps(item, ensure_ascii=False), file=sys.stderr)
    print(f"{report['imported']} imported, {len(report['unmapped'])} not mapped to a 2025 "
          f"commune, {len(report['refused'])} refused")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    petitions = sub.add_parser("petitions", help="petition data imports")
    petitions_sub = petitions.add_subparsers(dest="petitions_command", required=True)
    old = petitions_sub.add_parser("import-historic", help="import petitions carrying pre-2025 "
                                   "locality codes, mapped to the 2025 communes")
    old.add_argument("jsonl", help="one petition per line, with legacy_locality.ward_code")
    old.add_argument("--mapping", help="CSV old_ward_code,new_ward_code; default the "
                                       "package's own table when it ships one")
    old.set_defaults(func=_import_historic)

    voters = sub.add_parser("voters", help="voter counts per commune (10 %% request rule)")
    voters_sub = voters.add_subparsers(dest="voters_command", required=True)
    load = voters_sub.add_parser("import", help="import a CSV with columns ward_code,voters")
    load.add_argument("csv", help="path of the CSV file")
    load.add_argument("--source", required=True,
                      help="where the figures come from, e.g. the electoral roll")
    load.add_argument("--date", required=True, help="date of the figures, YYYY-MM-DD")
    load.set_defaults(func=_voters_import)

    day_off = sub.add_parser("day-off", help="days declared off (or worked) after the "
                                             "holidays package was released")
    day_sub = day_off.add_subparsers(dest="day_off_command", required=True)
    add = day_sub.add_parser("add", help="declare a day off (or, with --worked, a working day)")
    add.add_argument("date", help="YYYY-MM-DD")
    add.add_argument("--province", help="province code, e.g. 37; default nationwide")
    add.add_argument("--reason", required=True, help="the decision that declared it")
    add.add_argument("--worked", action="store_true", help="a make-up working day instead")
    add.add_argument("--file", help="override file; default DOITHOAI_DAYS_OFF_FILE")
    add.set_defaults(func=_day_off_add)
    show = day_sub.add_parser("list", help="the declared days")
    show.add_argument("--file", help="override file; default DOITHOAI_DAYS_OFF_FILE")
    show.set_defaults(func=_day_off_list)
