"""Operator command line: ``python -m services.cli --help``."""

from __future__ import annotations

import argparse
import sys

from services.common.auth import ROLES, issue_token
from services.common.config import Settings


def _token(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    roles = args.role
    print(issue_token(settings, args.sub or f"cli-{roles[0]}", roles, agency_id=args.agency,
                      province_code=args.province, ward_code=args.ward, ttl=args.ttl))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m services.cli",
                                  description="Operator tools for the dialogue platform.")
    sub = top.add_subparsers(dest="command", required=True)

    token = sub.add_parser("token", help="print an officer token valid for the local secret")
    token.add_argument("--role", action="append", required=True, choices=ROLES,
                       help="role (repeat for several)")
    token.add_argument("--agency", help="agency id, e.g. so-tnmt-37")
    token.add_argument("--province", help="province code, e.g. 37")
    token.add_argument("--ward", help="commune code, e.g. 14464")
    token.add_argument("--sub", help="subject (user id); default cli-<role>")
    token.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    token.set_defaults(func=_token)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
