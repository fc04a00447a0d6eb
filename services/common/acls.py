"""Kafka principals and what each may do: the one source of the ACL set.

The local broker (``services.cli kafka`` / ``deploy/infra.sh``) and the Kubernetes
deployment (Strimzi ``KafkaUser`` resources rendered by ``deploy/helm``) are both
generated from these functions, so the two cannot drift.

Names are logical; every function takes the deployment's ``TOPIC_PREFIX`` and applies it
to topics and consumer groups alike. Prefixed patterns keep their trailing separator
(``agency.so-tnmt-37.``), so that one agency's prefix never matches another's.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.common.contracts import followup, intake, notify, scheduling

TOPIC, GROUP, CLUSTER = "topic", "group", "cluster"
LITERAL, PREFIXED = "literal", "prefixed"

PRODUCE = ("Write", "Describe")
CONSUME = ("Read", "Describe")
GROUP_OPS = ("Read", "Describe")

ADMIN = "admin"


@dataclass(frozen=True)
class Acl:
    """Allow ``operations`` on one resource (a literal name or a prefix)."""

    resource: str  # topic | group | cluster
    name: str
    pattern: str = LITERAL
    operations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Principal:
    """A SCRAM user and its ACLs."""

    name: str
    acls: tuple[Acl, ...]
    kind: str = "service"  # service | agency


@dataclass(frozen=True)
class Access:
    """What a service does on Kafka, by logical name."""

    produces: tuple[str, ...]
    consumes: tuple[str, ...] = ()
    consumes_prefixes: tuple[str, ...] = ()
    # Topics it writes by prefix: followup publishes each agency's feed of commitments,
    # agency.<id>.commitments. Kafka has no suffix ACLs, so this prefix also covers the
    # agencies' .reports topics; only the agencies' own literal ACLs make a report believed.
    produces_prefixes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    # Topics it may create, by prefix: followup creates an agency's inbox when the agency
    # is first assigned a commitment. Every other topic is created by the operator.
    creates_prefixes: tuple[str, ...] = ()


AGENCY_PREFIX = "agency."

SERVICES: dict[str, Access] = {
    "intake": Access(produces=(intake.TOPIC,),
                     consumes=(intake.SUBMISSIONS, intake.TOPIC, followup.TOPIC),
                     groups=("intake",)),
    "scheduling": Access(produces=(scheduling.TOPIC,),
                         consumes=(intake.TOPIC,),
                         groups=("scheduling",)),
    "followup": Access(produces=(followup.TOPIC,),
                       consumes=(scheduling.TOPIC,),
                       consumes_prefixes=(AGENCY_PREFIX,),
                       produces_prefixes=(AGENCY_PREFIX,),
                       groups=("followup", "followup-agencies"),
                       creates_prefixes=(AGENCY_PREFIX,)),
    "notify": Access(produces=(notify.TOPIC,),
                     consumes=(intake.TOPIC, scheduling.TOPIC, followup.TOPIC),
                     groups=("notify",)),
}


def dlq(group: str) -> str:
    return f"dlq.{group}"


def service_principal(service: str, prefix: str = "") -> Principal:
    """The least-privilege ACLs of one service: its own topics and dead-letter topics
    (write), what it consumes (read), its own consumer groups."""
    access = SERVICES[service]
    acls: list[Acl] = []
    for topic in access.produces:
        acls.append(Acl(TOPIC, prefix + topic, LITERAL, PRODUCE))
    for group in access.groups:
        acls.append(Acl(TOPIC, prefix + dlq(group), LITERAL, PRODUCE))
        acls.append(Acl(GROUP, prefix + group, LITERAL, GROUP_OPS))
    for topic in access.consumes:
        acls.append(Acl(TOPIC, prefix + topic, LITERAL, CONSUME))
    for topic in access.consumes_prefixes:
        acls.append(Acl(TOPIC, prefix + topic, PREFIXED, CONSUME))
    for topic in access.produces_prefixes:
        acls.append(Acl(TOPIC, prefix + topic, PREFIXED, PRODUCE))
    for topic in access.creates_prefixes:
        acls.append(Acl(TOPIC, prefix + topic, PREFIXED, ("Create",)))
    # Idempotent producers (acks=all, enable_idempotence) need this on the cluster.
    acls.append(Acl(CLUSTER, "kafka-cluster", LITERAL, ("IdempotentWrite",)))
    return Principal(service, tuple(acls))


def service_principals(prefix: str = "") -> list[Principal]:
    return [service_principal(name, prefix) for name in SERVICES]


def agency_topics(agency_id: str) -> dict[str, str]:
    """The topics of one agency, by role: its inbox (it writes) and the feed of its
    commitments (followup writes, it reads)."""
    return {"reports": followup.agency_topic(agency_id),
            "commitments": followup.agency_commitments_topic(agency_id)}


def agency_principal(agency_id: str, prefix: str = "") -> Principal:
    """An agency writes only its own reports topic and uses only groups named
    ``<agency_id>.…``; it reads only topics under its own prefix (its reports and the
    feed of its commitments, ``agency.<agency_id>.commitments``)."""
    own = f"{prefix}{AGENCY_PREFIX}{agency_id}."
    return Principal(
        f"agency-{agency_id}",
        (Acl(TOPIC, prefix + followup.agency_topic(agency_id), LITERAL, PRODUCE),
         Acl(TOPIC, own, PREFIXED, CONSUME),
         Acl(GROUP, f"{prefix}{agency_id}.", PREFIXED, GROUP_OPS),
         Acl(CLUSTER, "kafka-cluster", LITERAL, ("IdempotentWrite",))),
        kind="agency",
    )


def all_topics(agency_ids: Iterable[str] = (), prefix: str = "") -> list[str]:
    """Every topic the deployment uses: the services' own, their dead-letter topics,
    and each listed agency's."""
    names: list[str] = []
    for access in SERVICES.values():
        names.extend(access.produces)
        names.extend(access.consumes)
        names.extend(dlq(g) for g in access.groups)
    for agency in agency_ids:
        names.extend(agency_topics(agency).values())
    return sorted({prefix + n for n in names})
