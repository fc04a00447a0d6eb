"""The citizen's journey and the bad days, with every process real.

Each assertion reads what actually arrived: the sinks' /messages, the services' APIs,
and the Kafka topics an agency writes to.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from kafka import KafkaProducer

from services.common.clock import VN_TZ
from tests.e2e.conftest import Running, get, post
from tests.helpers import wait_for

PROVINCE = "37"
WARD = "14464"  # Xã Gia Viễn, Ninh Bình
AGENCY = "so-nnmt-37"

FLOODING = [
    ("Đường liên thôn Đông Thượng ngập sâu sau mưa",
     "Mỗi khi mưa lớn, đường liên thôn Đông Thượng ngập sâu nửa mét, học sinh không đi học "
     "được. Đề nghị xã nạo vét cống thoát nước và nâng cốt mặt đường."),
    ("Duong lien thon Dong Thuong bi ngap nuoc",
     "Duong lien thon Dong Thuong cu mua la ngap, cong thoat nuoc bi tac lau roi. "
     "De nghi xa cho nao vet cong va nang duong."),
    ("Ngập úng đường thôn Đông Thượng",
     "Nước mưa không thoát được, đường thôn Đông Thượng ngập cả tuần, xe máy chết máy. "
     "Kính đề nghị nạo vét cống thoát nước."),
    ("Cống thoát nước thôn Đông Thượng tắc gây ngập đường",
     "Cống thoát nước dọc đường liên thôn Đông Thượng bị tắc, mưa xuống là ngập đường, "
     "bà con đi lại rất vất vả. Mong xã sớm nạo vét."),
    ("Đường Đông Thượng ngập nước kéo dài",
     "Đường liên thôn qua Đông Thượng bị ngập nước kéo dài sau mỗi trận mưa vì cống "
     "thoát nước tắc. Đề nghị nạo vét cống, nâng mặt đường."),
]


def phone(n: int) -> str:
    return f"+8491{uuid.uuid4().int % 10**5:05d}{n:02d}"


def submit(run: Running, title: str, content: str, number: str) -> dict:
    return post(run.url("intake", "/api/v1/petitions"), {
        "kind": "feedback", "title": title, "content": content, "category": "infrastructure",
        "locality": {"province_code": PROVINCE, "ward_code": WARD}, "channel": "web",
        "petitioner": {"full_name": "Nguyễn Văn An", "phone": number,
                       "consent_notifications": True}}, expect=201)


def directory(run: Running, agency: str, ward: str = WARD) -> dict[str, str]:
    """Contacts of the agency, host and Front; returns their e-mail addresses."""
    admin = run.token("admin")
    suffix = uuid.uuid4().hex[:6]
    emails = {"agency": f"vanthu.{agency}.{suffix}@ninhbinh.gov.vn",
              "host": f"chutich.{ward}.{suffix}@ninhbinh.gov.vn",
              "front": f"mttq.{ward}.{suffix}@ninhbinh.gov.vn",
              "secretariat": f"vanphong.{ward}.{suffix}@ninhbinh.gov.vn"}
    requests_put(run.url("notify", f"/api/v1/directory/agencies/{agency}"),
                 {"name": "Sở Nông nghiệp và Môi trường tỉnh Ninh Bình",
                  "email": emails["agency"]}, admin)
    for role in ("host", "front", "secretariat"):
        requests_put(run.url("notify", "/api/v1/directory/localities"),
                     {"name": f"{role} {ward}", "email": emails[role], "role": role,
                      "province_code": PROVINCE, "ward_code": ward}, admin)
    return emails


def requests_put(url: str, body: dict, headers: dict) -> None:
    import requests

    response = requests.put(url, json=body, headers=headers, timeout=15)
    assert response.status_code == 200, f"{url}: {response.status_code} {response.text}"


def trending_issue(run: Running, petition_ids: set[str], officer: dict) -> dict:
    def found():
        page = get(run.url("scheduling", f"/api/v1/agenda-candidates?ward_code={WARD}"),
                   officer)
        for item in page["items"]:
            if petition_ids <= set(item["petition_ids"]) and item["trending"]:
                return item
        return None

    return wait_for(found, 60, interval=0.5, message="the issue as a trending agenda candidate")


def plan_dialogue(run: Running, officer: dict, issue: dict, starts_in: timedelta,
                  venue: str) -> str:
    starts = run.clock.now() + starts_in
    dialogue = post(run.url("scheduling", "/api/v1/dialogues"), {
        "kind": "thematic", "level": "commune",
        "locality": {"province_code": PROVINCE, "ward_code": WARD},
        "host": {"name": f"Trần Văn Bình {uuid.uuid4().hex[:4]}", "title": "Chủ tịch UBND xã"},
        "lead_agency_id": AGENCY, "coordinating_agency_ids": [],
        "format": "in_person", "venue": venue,
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "topic": "Chống ngập đường liên thôn Đông Thượng"}, officer, expect=201)
    post(run.url("scheduling", f"/api/v1/dialogues/{dialogue['id']}/agenda-items"), {
        "title": issue["title"], "issue_id": issue["issue_id"],
        "petition_ids": issue["petition_ids"], "minutes_allotted": 30}, officer)
    return dialogue["id"]


def hold_and_conclude(run: Running, officer: dict, dialogue_id: str, petition_ids: list[str],
                      deadline_days: int) -> None:
    post(run.url("scheduling", f"/api/v1/dialogues/{dialogue_id}/hold"), {
        "attendance": {"total": 120, "citizens": 95, "front": 5, "organisations": 10,
                       "agencies": 10},
        "minutes": "Bà con phản ánh ngập đường; Sở NN&MT nhận nạo vét cống."}, officer)
    issued = run.clock.now()
    deadline = (issued.astimezone(VN_TZ) + timedelta(days=deadline_days)).date()
    post(run.url("scheduling", f"/api/v1/dialogues/{dialogue_id}/conclude"), {
        "notice_number": f"{uuid.uuid4().int % 90 + 10}-TB/UBND", "issued_at": issued.isoformat(),
        "signed_by": "Chủ tịch UBND xã",
        "conclusions": [{"text": "Nạo vét toàn bộ cống thoát nước đường liên thôn Đông Thượng",
                         "responsible_agency_id": AGENCY, "deadline": deadline.isoformat(),
                         "petition_ids": petition_ids}]}, officer)


def commitment_of(run: Running, dialogue_id: str) -> dict:
    officer = run.token("secretariat", province_code=PROVINCE)

    def found():
        page = get(run.url("followup", f"/api/v1/commitments?dialogue_id={dialogue_id}"),
                   officer)
        return page["items"][0] if page["items"] else None

    return wait_for(found, 60, interval=0.5, message="the commitment")


def agency_report(run: Running, commitment_id: str, answer: str) -> None:
    """What an agency's own system does: a CloudEvent on its own topic."""
    envelope = {
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": f"urn:agency:{AGENCY}",
        "type": "commitment.resolution_submitted", "subject": commitment_id,
        "time": run.clock.now().isoformat(), "datacontenttype": "application/json",
        "dataschema": "https://doithoai.github.io/contracts/schemas/"
                      "commitment.resolution_submitted.v1.json",
        "data": {"commitment_id": commitment_id, "agency_id": AGENCY, "answer": answer,
                 "outcome": "resolved"}}
    producer = KafkaProducer(bootstrap_servers=run.settings.kafka_bootstrap, acks="all")
    try:
        producer.send(f"{run.settings.topic_prefix}agency.{AGENCY}.reports",
                      key=commitment_id.encode(), value=json.dumps(envelope).encode(),
                      headers=[("content-type", b"application/cloudevents+json")]
                      ).get(timeout=30)
    finally:
        producer.close()


def test_one_citizen_from_submission_to_answer(system: Running):
    run = system
    officer = run.token("secretariat", "host", province_code=PROVINCE)
    emails = directory(run, AGENCY)

    # The citizen submits and is told the tracking code by SMS.
    citizen = phone(1)
    mine = submit(run, *FLOODING[0], citizen)
    code = mine["tracking_code"]
    ack = run.wait_messages("sms", citizen, containing=code)
    assert len(ack) == 1

    # Neighbours raise the same problem, in their own words; it becomes a hot issue.
    others = [submit(run, title, content, phone(n + 2))
              for n, (title, content) in enumerate(FLOODING[1:])]
    ids = {mine["id"], *(p["id"] for p in others)}
    issue = trending_issue(run, ids, officer)
    assert issue["distinct_petitioners"] >= 5

    # The secretariat puts it on a dialogue 8 days ahead and announces it.
    dialogue_id = plan_dialogue(run, officer, issue, timedelta(days=8),
                                "Hội trường UBND xã Gia Viễn")
    post(run.url("scheduling", f"/api/v1/dialogues/{dialogue_id}/announce"), {}, officer)
    invitation = run.wait_messages("sms", citizen, containing="Gia Vien")
    assert any("doi thoai" in m["body"].lower() for m in invitation)
    run.wait_messages("email", emails["agency"])  # the lead agency's notice

    # The day comes: held and concluded, the agency is assigned with a deadline.
    run.clock.advance(days=8, minutes=5)
    hold_and_conclude(run, officer, dialogue_id, sorted(ids), deadline_days=30)
    commitment = commitment_of(run, dialogue_id)
    assert commitment["agency_id"] == AGENCY
    run.wait_messages("email", emails["agency"], count=2)  # notice + assignment

    # The agency resolves it from its own system, over its own Kafka topic.
    answer = "Sở đã nạo vét 1,2 km cống thoát nước và nâng mặt đường Đông Thượng."
    agency_report(run, commitment["id"], answer)

    # The citizen receives the answer and sees it when looking the petition up.
    run.wait_messages("sms", citizen, containing="nao vet")
    view = wait_for(lambda: (v := get(run.url(
        "intake", f"/api/v1/petitions/{code}?phone_last4={citizen[-4:]}")))["status"] ==
        "answered" and v, 60, message="status answered")
    assert view["answer"]["text"] == answer
    assert [h["status"] for h in view["history"]][0] == "received"
    # one acknowledgement, one invitation, one answer: nobody was told anything twice
    bodies = [m["body"] for m in run.messages("sms", citizen)]
    print("\n".join(bodies))
    assert len(bodies) == 3, bodies
