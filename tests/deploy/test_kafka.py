"""Kafka as rendered for Strimzi against what the services really do: every topic they use
has a KafkaTopic, every topic and consumer group they touch is allowed by their KafkaUser,
the users equal services/common/acls.py, worker replicas stay within the partitions."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import services.common.contracts  # noqa: F401  (registers every event type)
from services.common import acls
from services.common.events import REGISTRY
from services.followup import bootstrap as followup
from services.intake import handlers as intake
from services.notify import bootstrap as notify
from services.notify import handlers as notify_handlers
from services.scheduling import bootstrap as scheduling
from tests.deploy.chart import ROOT, VALUES, HelmError, of_kind, rendered, template

AGENCY_TOPIC = re.compile(r"^agency\.<agency_id>\.")

# What each service's worker consumes, read from the services' own modules (not acls.py).
CONSUMERS = {
    "intake": [(intake.GROUP, list(intake.TOPICS), None)],
    "scheduling": [(scheduling.GROUP, list(scheduling.CONSUMES), None)],
    "followup": [(followup.GROUP, [followup.DIALOGUES], None),
                 (followup.AGENCY_GROUP, [], followup.AGENCY_PATTERN)],
    "notify": [(notify.GROUP, list(notify_handlers.TOPICS), None)],
}


def agencies(objects) -> list[str]:
    return sorted(u["metadata"]["name"].removeprefix("agency-")
                  for u in of_kind(objects, "KafkaUser")
                  if u["metadata"]["name"].startswith("agency-"))


def topics(objects) -> dict[str, dict]:
    return {t["spec"]["topicName"]: t["spec"] for t in of_kind(objects, "KafkaTopic")}


def users(objects) -> dict[str, list[dict]]:
    return {u["metadata"]["name"]: u["spec"]["authorization"]["acls"]
            for u in of_kind(objects, "KafkaUser")}


def allowed(user_acls: list[dict], kind: str, name: str, operation: str) -> bool:
    for acl in user_acls:
        res = acl["resource"]
        if res["type"] != kind or operation not in acl["operations"]:
            continue
        if kind == "cluster":
            return True
        if res.get("patternType", "literal") == "literal" and res["name"] == name:
            return True
        if res.get("patternType") == "prefix" and name.startswith(res["name"]):
            return True
    return False


def producer(topic: str) -> str | None:
    """The service that writes a topic named after it; None for an inbox it only reads
    (intake.submissions is written by other systems)."""
    owner = topic.split(".")[0]
    if owner not in CONSUMERS:
        return None
    consumed = {t for _, ts, _ in CONSUMERS[owner] for t in ts}
    return None if topic in consumed else owner


@pytest.mark.parametrize("name", sorted(VALUES))
def test_every_topic_the_services_use_has_a_kafka_topic(name):
    objects = rendered(name)
    have = topics(objects)
    ids = agencies(objects)
    needed: set[str] = set()
    for event_type in REGISTRY.all():
        for topic in event_type.topics:
            if AGENCY_TOPIC.match(topic):
                needed |= {topic.replace("<agency_id>", a) for a in ids}
            else:
                needed.add(topic)
    for consumers in CONSUMERS.values():
        for group, consumed, _ in consumers:
            needed |= set(consumed)
            needed.add(f"dlq.{group}")
    missing = sorted(needed - set(have))
    assert not missing, f"{name}: no KafkaTopic for {missing}"
    if name != "default":
        assert ids, "production values list the agencies"


@pytest.mark.parametrize("name", sorted(VALUES))
def test_every_group_and_topic_a_service_touches_is_allowed_by_its_user(name):
    objects = rendered(name)
    granted = users(objects)
    agency_topics = [t for t in topics(objects)
                     if t.startswith("agency.") and t.endswith(".reports")]
    for service, consumers in CONSUMERS.items():
        mine = granted[service]
        for group, consumed, pattern in consumers:
            assert allowed(mine, "group", group, "Read"), (service, group)
            assert allowed(mine, "topic", f"dlq.{group}", "Write"), (service, group)
            for topic in consumed:
                assert allowed(mine, "topic", topic, "Read"), (service, topic)
                assert allowed(mine, "topic", topic, "Describe"), (service, topic)
            if pattern:
                matched = [t for t in agency_topics if re.fullmatch(pattern, t)]
                assert len(matched) == len(agency_topics)
                for topic in matched:
                    assert allowed(mine, "topic", topic, "Read"), (service, topic)
        for event_type in REGISTRY.all():
            if producer(event_type.topic) == service:
                assert allowed(mine, "topic", event_type.topic, "Write"), \
                    (service, event_type.type)
        assert allowed(mine, "cluster", "", "IdempotentWrite")  # idempotent producers


@pytest.mark.parametrize("name", sorted(VALUES))
def test_an_agency_writes_only_its_own_reports_and_reads_only_its_own_topics(name):
    objects = rendered(name)
    granted = users(objects)
    ids = agencies(objects)
    for a in ids[:20]:
        mine = granted[f"agency-{a}"]
        assert allowed(mine, "topic", f"agency.{a}.reports", "Write")
        assert allowed(mine, "topic", f"agency.{a}.commitments", "Read")
        assert not allowed(mine, "topic", f"agency.{a}.commitments", "Write")
        assert allowed(granted["followup"], "topic", f"agency.{a}.commitments", "Write")
        for other in ids:
            if other != a:
                assert not allowed(mine, "topic", f"agency.{other}.reports", "Write")
                assert not allowed(mine, "topic", f"agency.{other}.reports", "Read")
                assert not allowed(mine, "topic", f"agency.{other}.commitments", "Read")
        for topic in ("intake.petitions", "followup.commitments", "notify.deliveries"):
            assert not allowed(mine, "topic", topic, "Read")


def strimzi(acl: acls.Acl) -> dict:
    if acl.resource == acls.CLUSTER:
        return {"resource": {"type": "cluster"}, "operations": list(acl.operations)}
    return {"resource": {"type": acl.resource, "name": acl.name,
                         "patternType": "prefix" if acl.pattern == acls.PREFIXED else "literal"},
            "operations": list(acl.operations)}


@pytest.mark.parametrize("prefix", ["", "nb."])
def test_rendered_users_equal_the_acl_source(prefix):
    objects = template(VALUES["ninhbinh"], (f"kafka.topicPrefix={prefix}",))
    granted = users(objects)
    expected = {p.name: [strimzi(a) for a in p.acls] for p in acls.service_principals(prefix)}
    for a in agencies(objects):
        p = acls.agency_principal(a, prefix)
        expected[p.name] = [strimzi(x) for x in p.acls]
    assert granted == expected
    assert set(acls.all_topics(agencies(objects), prefix)) == set(topics(objects))


def test_the_committed_access_file_equals_a_fresh_generation():
    for module in ("deploy.helm.gen", "deploy.helm.dashboard"):
        done = subprocess.run([sys.executable, "-m", module, "--check"], cwd=ROOT,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def consumed_partitions(objects, service: str) -> int:
    have = topics(objects)
    return min(have[t]["partitions"] for _, ts, _ in CONSUMERS[service] for t in ts)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_worker_replicas_are_at_most_the_partitions_they_consume(name):
    objects = rendered(name)
    workers = {d["metadata"]["labels"]["app.kubernetes.io/name"]: d["spec"]["replicas"]
               for d in of_kind(objects, "Deployment")
               if d["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"}
    assert set(workers) == set(CONSUMERS)
    for service, replicas in workers.items():
        assert 1 <= replicas <= consumed_partitions(objects, service), (name, service)


def test_the_chart_refuses_more_workers_than_partitions():
    with pytest.raises(HelmError, match=r"services.notify.worker.replicas \(7\) exceeds"):
        template(VALUES["ninhbinh"], ("services.notify.worker.replicas=7",))


def test_no_worker_has_an_autoscaler():
    """Workers are bounded by partitions; only web processes scale on CPU."""
    for name in VALUES:
        targets = [h["spec"]["scaleTargetRef"]["name"]
                   for h in of_kind(rendered(name), "HorizontalPodAutoscaler")]
        assert targets and all(t.endswith("-web") for t in targets)
