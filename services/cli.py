"""Operator command line: ``python -m services.cli --help``."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any

from services.common import acls
from services.common.auth import ROLES, issue_token
from services.common.config import Settings, describe

SERVICES = {"intake": 8001, "scheduling": 8002, "followup": 8003, "notify": 8004}


def progress(done: int, total: int, label: str, out=sys.stderr) -> None:
    """A one-line progress bar, redrawn in place (on a terminal; otherwise every 10%)."""
    width = 30
    filled = int(width * done / total) if total else width
    bar = f"{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
    if out.isatty():
        out.write("\r" + bar + ("\n" if done >= total else ""))
    elif done >= total or done * 10 // max(total, 1) != (done - 1) * 10 // max(total, 1):
        out.write(bar + "\n")
    out.flush()


def _token(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    roles = args.role
    print(issue_token(settings, args.sub or f"cli-{roles[0]}", roles, agency_id=args.agency,
                      province_code=args.province, ward_code=args.ward, ttl=args.ttl))
    return 0


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def consumer_lag(settings: Settings,
                 group_prefix: str | None = None) -> dict[str, dict[str, int]]:
    """Records not yet handled, per consumer group and topic, for the groups whose names
    start with ``group_prefix`` (the deployment's topic prefix unless given): end offset
    minus committed offset over every partition of every topic the group subscribes to
    (its members' subscriptions, as the admin client describes them) or has committed
    on; a partition without a commit counts whole."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    from services.common.kafka import client_config
    from services.common.kafka_security import operator

    prefix = settings.topic_prefix if group_prefix is None else group_prefix
    config = client_config(operator(settings))
    admin = KafkaAdminClient(**config)
    consumer = KafkaConsumer(**config, enable_auto_commit=False)
    lags: dict[str, dict[str, int]] = {}
    try:
        groups = sorted(g["group_id"] for g in admin.list_groups()
                        if g["group_id"].startswith(prefix))
        described = admin.describe_groups(groups) if groups else {}
        for group in groups:
            committed = admin.list_group_offsets({group: None}).get(group) or {}
            topics = {tp.topic for tp in committed}
            for member in (described.get(group) or {}).get("members") or []:
                topics.update((member.get("member_metadata") or {}).get("topics") or [])
            partitions = [TopicPartition(t, p) for t in sorted(topics)
                          for p in consumer.partitions_for_topic(t) or ()]
            if not partitions:
                continue
            ends = consumer.end_offsets(partitions)
            starts = consumer.beginning_offsets(partitions)
            per_topic: dict[str, int] = {}
            for tp in partitions:
                done = committed[tp].offset if tp in committed else starts[tp]
                per_topic[tp.topic] = per_topic.get(tp.topic, 0) + max(0, ends[tp] - done)
            lags[group] = per_topic
    finally:
        consumer.close()
        admin.close()
    return lags


def _status(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    healthy = True
    print(f"{'service':<12} {'alive':<7} {'ready':<7} checks")
    for name, port in SERVICES.items():
        base = f"http://{args.host}:{port}"
        alive, _ = _get(f"{base}/healthz")
        ready, body = _get(f"{base}/readyz")
        checks = body.get("checks") if isinstance(body, dict) else body
        healthy &= alive == 200 and ready == 200
        print(f"{name:<12} {'yes' if alive == 200 else 'NO':<7} "
              f"{'yes' if ready == 200 else 'NO':<7} {checks}")
    try:
        lags = consumer_lag(settings)
    except Exception as exc:  # Kafka down is a status to report, not a crash
        print(f"\nconsumer lag: Kafka unreachable ({exc})")
        return 1
    print(f"\n{'consumer group':<32} {'topic':<36} lag")
    for group, topics in lags.items():
        for topic, lag in sorted(topics.items()):
            print(f"{group:<32} {topic:<36} {lag}")
    return 0 if healthy else 1


def dead_letters(settings: Settings, group: str | None = None) -> list[Any]:
    """Every record in the dead-letter topics (of one consumer group, or all)."""
    from kafka import KafkaConsumer, TopicPartition

    from services.common.kafka import client_config
    from services.common.kafka_security import operator

    consumer = KafkaConsumer(**client_config(operator(settings)), enable_auto_commit=False)
    try:
        prefix = f"{settings.topic_prefix}dlq."
        topics = [t for t in consumer.topics() if t.startswith(prefix)
                  and (group is None or t == prefix + group)]
        tps = [TopicPartition(t, p) for t in topics
               for p in consumer.partitions_for_topic(t) or ()]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[Any] = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def _headers(record: Any) -> dict[str, str]:
    return {k: v.decode(errors="replace") for k, v in record.headers or []}


def _dlq_list(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    records = dead_letters(settings, args.group)
    for record in records:
        h = _headers(record)
        print(f"{record.topic}@{record.partition}:{record.offset}  from {h.get('dlq.topic')}"
              f"@{h.get('dlq.partition')}:{h.get('dlq.offset')}  at {h.get('dlq.time')}\n"
              f"    reason: {h.get('dlq.reason', '?')}  error: {h.get('dlq.error')}")
    print(f"{len(records)} dead-lettered record(s)")
    return 0


def replay(settings: Settings, records: Iterable[Any], *, show: bool = True) -> int:
    """Re-publish dead-lettered records to their original topics, in their original order."""
    from services.common.kafka import Bus
    from services.common.kafka_security import operator

    records = list(records)
    bus = Bus(operator(settings))
    try:
        for done, record in enumerate(records, 1):
            topic = _headers(record).get("dlq.topic")
            if topic:
                key = record.key.decode() if record.key else None
                bus.send(topic, key, record.value, headers=[("dlq.replayed-from",
                                                            f"{record.topic}:{record.offset}"
                                                            .encode())])
            if show:
                progress(done, len(records), "replaying")
    finally:
        bus.close()
    return len(records)


def _dlq_replay(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    records = dead_letters(settings, args.group)
    if args.offset is not None:
        records = [r for r in records if r.offset in set(args.offset)]
    if not records:
        print("nothing to replay")
        return 0
    count = replay(settings, records)
    print(f"replayed {count} record(s) to their original topics")
    return 0


def _config(_args: argparse.Namespace) -> int:
    seen: set[str] = set()
    for name in ("common", *SERVICES):
        module = "services.common.config" if name == "common" else f"services.{name}.settings"
        try:
            loaded = importlib.import_module(module)
        except ImportError:
            continue
        classes = [v for v in vars(loaded).values()
                   if isinstance(v, type) and issubclass(v, Settings)]
        for cls in classes:
            rows = [r for r in describe(cls) if r[0] not in seen]
            if rows:
                print(f"# {name}")
            for env, default, doc in rows:
                seen.add(env)
                print(f"{env}={default!s:<30} # {doc}")
    return 0


def _agency_id(value: str) -> str:
    from services.common.contracts.fields import AGENCY

    if not AGENCY.regex.match(value):
        raise argparse.ArgumentTypeError(f"invalid agency id {value!r}: {AGENCY.error}")
    return value


def _agency_add(args: argparse.Namespace) -> int:
    from services.common.kafka_security import add_agency, client_properties

    settings = Settings.from_env()
    user, password, topic = add_agency(settings, args.agency_id)
    properties = client_properties(settings, user, password)
    if args.properties:
        with open(args.properties, "x", encoding="utf-8") as handle:
            handle.write(properties)
    print(f"Kafka principal for agency {args.agency_id} (shown once; keep it in a secret store):"
          f"\n  username: {user}\n  password: {password}\n  writes:   {topic}"
          f"\n  reads:    {settings.topic_prefix}agency.{args.agency_id}.*   (your commitments:"
          f" {settings.topic_prefix}agency.{args.agency_id}.commitments)"
          f"\n  groups:   {settings.topic_prefix}{args.agency_id}.*"
          "\n\nClient properties (kafka-console-producer/consumer --command-config / "
          f"--producer.config){' written to ' + args.properties if args.properties else ''}:"
          f"\n{properties}")
    return 0


def _agency_revoke(args: argparse.Namespace) -> int:
    from services.common.kafka_security import revoke_agency

    had, removed = revoke_agency(Settings.from_env(), args.agency_id)
    if not had and not removed:
        print(f"agency {args.agency_id} had no Kafka credentials or ACLs", file=sys.stderr)
        return 1
    print(f"agency {args.agency_id}: credentials removed, {removed} ACL(s) removed; "
          "the broker refuses it from now on")
    return 0


def _kafka_setup(args: argparse.Namespace) -> int:
    from services.common.kafka_security import setup

    settings = Settings.from_env()
    topics = setup(settings, prefix=args.prefix)
    print(f"kafka: users and ACLs of {', '.join(acls.SERVICES)} set; "
          f"{len(topics)} topics present")
    return 0


def _kafka_acls(args: argparse.Namespace) -> int:
    """The ACL set of acls.py, or what the broker holds."""
    settings = Settings.from_env()
    if args.broker:
        from services.common.kafka_security import OPERATION_NAMES, broker_acls, connect

        client = connect(settings)
        try:
            found = broker_acls(client, args.principal)
        finally:
            client.close()
        rows = sorted((a.principal.removeprefix("User:"), a.resource_pattern.resource_type.name
                       .lower(), a.resource_pattern.resource_name,
                       a.resource_pattern.pattern_type.name.lower(),
                       OPERATION_NAMES.get(a.operation, a.operation.name))
                      for a in found)
    else:
        principals = acls.service_principals(settings.topic_prefix)
        if args.agency:
            principals += [acls.agency_principal(a, settings.topic_prefix) for a in args.agency]
        rows = sorted((p.name, a.resource, a.name, a.pattern, op) for p in principals
                      for a in p.acls for op in a.operations
                      if not args.principal or p.name == args.principal)
    print(f"{'principal':<22} {'resource':<8} {'name':<36} {'pattern':<9} operation")
    for row in rows:
        print(f"{row[0]:<22} {row[1]:<8} {row[2]:<36} {row[3]:<9} {row[4]}")
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

    agency = sub.add_parser("agency", help="agencies that report over Kafka")
    agency_sub = agency.add_subparsers(dest="agency_command", required=True)
    add = agency_sub.add_parser("add", help="create the agency's Kafka credentials (printed "
                                            "once), its ACLs and its topic agency.<id>.reports")
    add.add_argument("agency_id", type=_agency_id, help="agency id, e.g. so-tnmt-37")
    add.add_argument("--properties", metavar="FILE",
                     help="also write the client properties file here (must not exist)")
    add.set_defaults(func=_agency_add)
    revoke = agency_sub.add_parser("revoke", help="remove the agency's credentials and ACLs")
    revoke.add_argument("agency_id", type=_agency_id)
    revoke.set_defaults(func=_agency_revoke)

    kafka = sub.add_parser("kafka", help="Kafka users, ACLs and topics (as the admin principal)")
    kafka_sub = kafka.add_subparsers(dest="kafka_command", required=True)
    setup = kafka_sub.add_parser("setup", help="the services' users, ACLs and topics "
                                               "(idempotent; make infra-up runs it)")
    setup.add_argument("--prefix", help="topic prefix (default: TOPIC_PREFIX)")
    setup.set_defaults(func=_kafka_setup)
    show = kafka_sub.add_parser("acls", help="the ACL set of services/common/acls.py, or "
                                             "with --broker what the broker holds")
    show.add_argument("--broker", action="store_true")
    show.add_argument("--principal", help="only this principal")
    show.add_argument("--agency", action="append", help="include this agency (repeatable)")
    show.set_defaults(func=_kafka_acls)

    status = sub.add_parser("status", help="health of every service and consumer lag")
    status.add_argument("--host", default="127.0.0.1")
    status.set_defaults(func=_status)

    dlq = sub.add_parser("dlq", help="dead-lettered records")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    dlq_list = dlq_sub.add_parser("list", help="show dead-lettered records and their errors")
    dlq_list.add_argument("--group", help="only this consumer group's dead letters")
    dlq_list.set_defaults(func=_dlq_list)
    dlq_replay = dlq_sub.add_parser("replay", help="re-publish to the original topics")
    dlq_replay.add_argument("--group", help="only this consumer group's dead letters")
    dlq_replay.add_argument("--offset", type=int, action="append",
                            help="only these dead-letter offsets (repeatable)")
    dlq_replay.set_defaults(func=_dlq_replay)

    config = sub.add_parser("config", help="every configuration variable with its default")
    config.set_defaults(func=_config)

    for extension in ("services.followup.cli", "services.devtools.demo", "services.rules_cli"):
        try:
            module = importlib.import_module(extension)
        except ImportError:
            continue
        module.register(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
