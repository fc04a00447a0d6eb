"""Operator side of Kafka security: SCRAM users, their ACLs and the topics, on a broker.

Everything here runs as the admin principal (a super user); the services never do. What
each principal may do comes from ``services.common.acls`` (the one source, which the Helm
chart renders as Strimzi ``KafkaUser`` resources); this module only applies it.

Topics are created here, before the services start: a service principal has no Create
right, so the number of partitions and replicas stays an operator's decision. Followup
alone may create topics, under ``agency.`` (an agency's inbox, when first assigned work).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from services.common import acls
from services.common.config import Settings
from services.common.kafka import client_config, ensure_topics

SCRAM_ITERATIONS = 8192
_RESOURCES = {acls.TOPIC: ResourceType.TOPIC, acls.GROUP: ResourceType.GROUP,
              acls.CLUSTER: ResourceType.CLUSTER}
_PATTERNS = {acls.LITERAL: ACLResourcePatternType.LITERAL,
             acls.PREFIXED: ACLResourcePatternType.PREFIXED}
_OPERATIONS = {"Read": ACLOperation.READ, "Write": ACLOperation.WRITE,
               "Create": ACLOperation.CREATE, "Describe": ACLOperation.DESCRIBE,
               "IdempotentWrite": ACLOperation.IDEMPOTENT_WRITE}
OPERATION_NAMES = {v: k for k, v in _OPERATIONS.items()}


def operator(settings: Settings) -> Settings:
    """The settings of operator tooling: the admin principal unless told otherwise."""
    if settings.kafka_username:
        return settings
    return dataclasses.replace(settings, kafka_username=acls.ADMIN)


def users_dir(settings: Settings) -> Path:
    return Path(settings.var_dir) / "kafka" / "users"


def local_password(settings: Settings, user: str) -> str:
    """The password of ``user`` kept under var/ for the local broker, made on first use."""
    path = users_dir(settings) / f"{user}.password"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return password


def connect(settings: Settings) -> KafkaAdminClient:
    settings = operator(settings)
    return KafkaAdminClient(**client_config(settings), client_id="doithoai-operator",
                            request_timeout_ms=15_000)


def kafka_acls(principal: acls.Principal) -> list[ACL]:
    """The broker's ACL objects of one principal (all ALLOW, from any host)."""
    return [ACL(principal=f"User:{principal.name}", host="*", operation=_OPERATIONS[op],
                permission_type=ACLPermissionType.ALLOW,
                resource_pattern=ResourcePattern(_RESOURCES[a.resource], a.name,
                                                 _PATTERNS[a.pattern]))
            for a in principal.acls for op in a.operations]


def set_password(client: KafkaAdminClient, user: str, password: str) -> None:
    errors = client.alter_user_scram_credentials([UserScramCredentialUpsertion(
        user, ScramMechanism.SCRAM_SHA_512, password, iterations=SCRAM_ITERATIONS)])
    if errors.get(user):
        raise RuntimeError(f"could not set the SCRAM credentials of {user}: {errors[user]}")


def delete_user(client: KafkaAdminClient, user: str) -> bool:
    """Remove the user's SCRAM credentials; False when it had none."""
    errors = client.alter_user_scram_credentials(
        [UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)])
    return not errors.get(user)


def grant(client: KafkaAdminClient, principal: acls.Principal) -> int:
    """Create the principal's ACLs (creating an existing ACL again changes nothing)."""
    wanted = kafka_acls(principal)
    result = client.create_acls(wanted)
    if result["failed"]:
        raise RuntimeError(f"could not create ACLs of {principal.name}: {result['failed']}")
    return len(wanted)


def revoke_acls(client: KafkaAdminClient, principal: acls.Principal) -> int:
    """Delete exactly the principal's ACLs from acls.py; return how many the broker removed."""
    filters = [ACLFilter(principal=a.principal, host="*", operation=a.operation,
                         permission_type=ACLPermissionType.ALLOW,
                         resource_pattern=ResourcePatternFilter(
                             a.resource_pattern.resource_type, a.resource_pattern.resource_name,
                             a.resource_pattern.pattern_type))
               for a in kafka_acls(principal)]
    removed = 0
    for _, matched, _ in client.delete_acls(filters):
        removed += len(matched)
    return removed


def revoke_all(client: KafkaAdminClient, user: str) -> int:
    """Delete every ACL of ``user``, whatever made it."""
    everything = ACLFilter(principal=f"User:{user}", host=None, operation=ACLOperation.ANY,
                           permission_type=ACLPermissionType.ANY,
                           resource_pattern=ResourcePatternFilter(
                               ResourceType.ANY, None, ACLResourcePatternType.ANY))
    return sum(len(matched) for _, matched, _ in client.delete_acls([everything]))


def broker_acls(client: KafkaAdminClient, user: str | None = None) -> list[ACL]:
    found, _ = client.describe_acls(ACLFilter(
        principal=f"User:{user}" if user else None, host=None, operation=ACLOperation.ANY,
        permission_type=ACLPermissionType.ANY,
        resource_pattern=ResourcePatternFilter(ResourceType.ANY, None,
                                               ACLResourcePatternType.ANY)))
    return found


def setup(settings: Settings, *, prefix: str | None = None,
          passwords: dict[str, str] | None = None) -> list[str]:
    """Users (with local passwords under var/ unless given), ACLs and topics of the four
    services for ``prefix`` (default: the settings' TOPIC_PREFIX). Idempotent; returns
    the topics."""
    settings = operator(settings)
    prefix = settings.topic_prefix if prefix is None else prefix
    client = connect(settings)
    try:
        for principal in acls.service_principals(prefix):
            password = (passwords or {}).get(principal.name) or local_password(
                settings, principal.name)
            set_password(client, principal.name, password)
            grant(client, principal)
    finally:
        client.close()
    topics = acls.all_topics(prefix="")
    ensure_topics(dataclasses.replace(settings, topic_prefix=prefix), topics)
    return [prefix + t for t in topics]


def teardown(settings: Settings, prefix: str) -> None:
    """Remove the services' ACLs of one prefix (tests give each run its own prefix)."""
    client = connect(settings)
    try:
        for principal in acls.service_principals(prefix):
            with contextlib.suppress(Exception):
                revoke_acls(client, principal)
    finally:
        client.close()


def add_agency(settings: Settings, agency_id: str) -> tuple[str, str, str]:
    """SCRAM credentials, ACLs and inbound topic of one agency: (user, password, topic).

    The password is returned once and kept nowhere; adding an agency again gives it a new
    password (the old one stops working).
    """
    settings = operator(settings)
    principal = acls.agency_principal(agency_id, settings.topic_prefix)
    password = secrets.token_urlsafe(24)
    client = connect(settings)
    try:
        set_password(client, principal.name, password)
        grant(client, principal)
    finally:
        client.close()
    topics = list(acls.agency_topics(agency_id).values())
    ensure_topics(settings, topics)
    return principal.name, password, settings.topic_prefix + topics[0]


def revoke_agency(settings: Settings, agency_id: str) -> tuple[bool, int]:
    """Remove the agency's credentials and every ACL it holds: (had credentials, ACLs
    removed). Its open connections are refused at their next request (no ACL), new ones
    at authentication (no credentials)."""
    settings = operator(settings)
    user = acls.agency_principal(agency_id).name
    client = connect(settings)
    try:
        removed = revoke_all(client, user)
        had = delete_user(client, user)
    finally:
        client.close()
    return had, removed


def client_properties(settings: Settings, user: str, password: str) -> str:
    """A Java client properties file (console producer/consumer) for one principal."""
    protocol = settings.kafka_security_protocol
    module = ("org.apache.kafka.common.security.plain.PlainLoginModule"
              if settings.kafka_sasl_mechanism == "PLAIN"
              else "org.apache.kafka.common.security.scram.ScramLoginModule")
    lines = [f"bootstrap.servers={settings.kafka_bootstrap}",
             f"security.protocol={protocol}",
             f"sasl.mechanism={settings.kafka_sasl_mechanism}",
             f'sasl.jaas.config={module} required username="{user}" password="{password}";']
    if protocol == "SASL_SSL":
        lines += ["# the CA that signed the brokers' certificates, as PEM",
                  "ssl.truststore.type=PEM",
                  "ssl.truststore.location=/path/to/ca.pem"]
    return "\n".join(lines) + "\n"
