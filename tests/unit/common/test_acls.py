"""The ACL set (services/common/acls.py): least privilege, prefixes that cannot overlap."""

from __future__ import annotations

from services.common import acls
from services.common.kafka_security import kafka_acls


def ops(principal: acls.Principal, resource: str, name: str) -> set[str]:
    return {op for a in principal.acls if a.resource == resource and a.name == name
            for op in a.operations}


def test_services_write_only_their_own_topics_and_create_none_but_agency_inboxes():
    for principal in acls.service_principals("p."):
        writes = {a.name for a in principal.acls if "Write" in a.operations}
        own = {f"p.{t}" for t in acls.SERVICES[principal.name].produces}
        dlqs = {f"p.dlq.{g}" for g in acls.SERVICES[principal.name].groups}
        # followup also writes each agency's feed, agency.<id>.commitments (by prefix)
        feeds = {"p.agency."} if principal.name == "followup" else set()
        assert writes == own | dlqs | feeds, principal.name
        creates = {(a.name, a.pattern) for a in principal.acls if "Create" in a.operations}
        assert creates == ({("p.agency.", acls.PREFIXED)} if principal.name == "followup"
                           else set())


def test_intake_reads_what_it_consumes_and_nothing_else():
    # intake.petitions: its own received petitions, grouped off the request path
    intake = acls.service_principal("intake")
    reads = {a.name for a in intake.acls if "Read" in a.operations and a.resource == "topic"}
    assert reads == {"intake.submissions", "followup.commitments", "intake.petitions"}
    assert ops(intake, "group", "intake") == {"Read", "Describe"}


def test_an_agency_prefix_keeps_its_trailing_dot():
    agency = acls.agency_principal("so-xd-3", "p.")
    prefixes = {a.name for a in agency.acls if a.pattern == acls.PREFIXED}
    assert prefixes == {"p.agency.so-xd-3.", "p.so-xd-3."}
    assert ops(agency, "topic", "p.agency.so-xd-3.reports") == {"Write", "Describe"}
    # its feed of commitments is under its own prefix: read, never written
    feed = [a for a in agency.acls if "p.agency.so-xd-3.commitments".startswith(a.name)
            and a.resource == "topic"]
    assert {op for a in feed for op in a.operations} == {"Read", "Describe"}
    assert set(acls.agency_topics("so-xd-3").values()) == {
        "agency.so-xd-3.reports", "agency.so-xd-3.commitments"}
    assert not any("agency.so-xd-37" .startswith(p.removeprefix("p.")) for p in prefixes)


def test_broker_acls_are_one_per_operation_for_the_principal():
    rendered = kafka_acls(acls.agency_principal("so-xd-37"))
    assert {a.principal for a in rendered} == {"User:agency-so-xd-37"}
    assert len(rendered) == sum(len(a.operations) for a in
                                acls.agency_principal("so-xd-37").acls)
