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
from services.common.kafka import client_config
from tests.e2e.conftest import Running, get, post, trending_candidate
from tests.helpers import petition_body, wait_for

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
    return post(run.url("intake", "/api/v1/petitions"), petition_body(
        title, content, ward=WARD, phone=number, name="Nguyễn Văn An",
        category="infrastructure", channel="web"), expect=201)


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
    return trending_candidate(run, petition_ids, officer, WARD)


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
                      deadline_days: int, agency: str = AGENCY) -> None:
    post(run.url("scheduling", f"/api/v1/dialogues/{dialogue_id}/hold"), {
        "attendance": {"total": 120, "citizens": 95, "front": 5, "organisations": 10,
                       "agencies": 10},
        "minutes": "Bà con phản ánh ngập đường; Sở NN&MT nhận nạo vét cống."}, officer)
    issued = run.clock.now()
    deadline = (issued.astimezone(VN_TZ) + timedelta(days=deadline_days)).date()
    post(run.url("scheduling", f"/api/v1/dialogues/{dialogue_id}/conclude"), {
        # numbers are unique per issuing body and year: draw one unlikely to repeat
        "notice_number": f"{uuid.uuid4().int % 90000 + 10}/TB-UBND",
        "issued_at": issued.isoformat(),
        "signed_by": "Chủ tịch UBND xã",
        "conclusions": [{"text": "Nạo vét toàn bộ cống thoát nước đường liên thôn Đông Thượng",
                         "responsible_agency_id": agency, "deadline": deadline.isoformat(),
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
    # as the agency's own principal: it may write this topic and no other
    producer = KafkaProducer(**client_config(run.agency(AGENCY)), acks="all")
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
    assert view["history"][0]["status"] == "received"
    # one acknowledgement, one invitation, one answer: nobody was told anything twice
    bodies = [m["body"] for m in run.messages("sms", citizen)]
    print("\n".join(bodies))
    assert len(bodies) == 3, bodies


def announced_dialogue(run: Running, officer: dict, ward: str, agency: str, petition_ids: list,
                       starts_in: timedelta, venue: str, topic: str) -> str:
    starts = run.clock.now() + starts_in
    dialogue = post(run.url("scheduling", "/api/v1/dialogues"), {
        "kind": "periodic", "level": "commune",
        "locality": {"province_code": PROVINCE, "ward_code": ward},
        "host": {"name": f"Lê Thị Hoa {uuid.uuid4().hex[:4]}", "title": "Bí thư Đảng ủy xã"},
        "lead_agency_id": agency, "format": "in_person", "venue": venue,
        "starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "topic": topic}, officer, expect=201)
    post(run.url("scheduling", f"/api/v1/dialogues/{dialogue['id']}/agenda-items"), {
        "title": topic, "petition_ids": petition_ids}, officer)
    post(run.url("scheduling", f"/api/v1/dialogues/{dialogue['id']}/announce"), {}, officer)
    return dialogue["id"]


def settle(run: Running) -> None:
    """Before counting messages: wait for the pipeline to drain (outboxes empty, every
    consumer group of the run at lag 0, no message due but unsent), so a duplicate, had
    there been one, would have arrived."""
    run.drain()


def test_late_commitment_is_escalated_to_agency_host_and_front_once_each(system: Running):
    run = system
    ward = "14500"  # Xã Đại Hoàng: its own host and Front, untouched by the other journeys
    agency = f"so-xd-{uuid.uuid4().hex[:6]}"
    officer = run.token("secretariat", "host", province_code=PROVINCE)
    emails = directory(run, agency, ward)

    dialogue_id = announced_dialogue(run, officer, ward, agency, [], timedelta(days=7, hours=1),
                                     "Nhà văn hóa thôn Đại Hoàng", "Sửa cầu qua kênh Đại Hoàng")
    run.clock.advance(days=7, hours=1, minutes=5)
    hold_and_conclude(run, officer, dialogue_id, [], deadline_days=10, agency=agency)
    run.wait_messages("email", emails["agency"], containing="Giao nhiệm vụ")

    # Time runs on: the deadline passes, then five working days more.
    run.clock.advance(days=20)
    run.wait_messages("email", emails["agency"], containing="Quá hạn")
    run.wait_messages("email", emails["host"], containing="Chuyển cấp 1")
    run.wait_messages("email", emails["front"], containing="Chuyển cấp 1")
    settle(run)
    subjects = {who: [m["subject"] for m in run.messages("email", address)]
                for who, address in emails.items()}
    assert sum(s.startswith("Quá hạn") for s in subjects["agency"]) == 1, subjects
    assert sum(s.startswith("Chuyển cấp 1") for s in subjects["host"]) == 1, subjects
    assert sum(s.startswith("Chuyển cấp 1") for s in subjects["front"]) == 1, subjects
    assert not any("Chuyển cấp 2" in s for s in subjects["host"])  # 15 working days not yet
    commitment = commitment_of(run, dialogue_id)
    assert commitment["overdue"] is True and commitment["escalation_level"] == 1


def test_reschedule_renotifies_and_replaces_reminders_and_cancel_silences(system: Running):
    run = system
    ward = "14482"  # Xã Gia Hưng
    agency = f"so-vh-{uuid.uuid4().hex[:6]}"
    officer = run.token("secretariat", "host", province_code=PROVINCE)
    directory(run, agency, ward)
    citizen, other = phone(31), phone(32)
    mine = post(run.url("intake", "/api/v1/petitions"), petition_body(
        "Nhà văn hóa thôn xuống cấp nghiêm trọng",
        "Mái nhà văn hóa thôn bị dột, tường nứt, đề nghị xã sửa chữa trước mùa mưa.",
        ward=ward, phone=citizen, name=None), expect=201)
    theirs = post(run.url("intake", "/api/v1/petitions"), petition_body(
        "Sân thể thao thôn bị lấn chiếm",
        "Sân thể thao của thôn bị một số hộ lấn chiếm làm bãi vật liệu xây dựng.",
        ward=ward, phone=other, name=None), expect=201)
    run.wait_messages("sms", citizen, containing=mine["tracking_code"])
    run.wait_messages("sms", other, containing=theirs["tracking_code"])

    kept = announced_dialogue(run, officer, ward, agency, [mine["id"]], timedelta(days=10),
                              "Nhà văn hóa thôn Tập Ninh", "Sửa chữa nhà văn hóa thôn")
    dropped = announced_dialogue(run, officer, ward, agency, [theirs["id"]],
                                 timedelta(days=10, hours=3), "Sân thể thao thôn Tập Ninh",
                                 "Giải tỏa lấn chiếm sân thể thao")
    run.wait_messages("sms", citizen, containing="Moi Ong/Ba")
    run.wait_messages("sms", other, containing="Moi Ong/Ba")

    new_start = run.clock.now() + timedelta(days=20)
    post(run.url("scheduling", f"/api/v1/dialogues/{kept}/reschedule"), {
        "starts_at": new_start.isoformat(),
        "ends_at": (new_start + timedelta(hours=2)).isoformat(),
        "venue": "Hội trường UBND xã", "reason": "Trùng lịch tiếp công dân của tỉnh"}, officer)
    post(run.url("scheduling", f"/api/v1/dialogues/{dropped}/cancel"),
         {"reason": "Các hộ đã tự nguyện trả lại mặt bằng"}, officer)
    run.wait_messages("sms", citizen, containing="duoc chuyen tu")
    run.wait_messages("sms", other, containing="da bi huy")

    # Past the old reminder times (day 8 and 9): nothing may come for the old schedule
    # nor for the cancelled dialogue; two days before the new start, one reminder comes.
    run.clock.advance(days=18, hours=1)
    reminder = run.wait_messages("sms", citizen, containing="Nhac lich")
    settle(run)
    new_local = new_start.astimezone(VN_TZ).strftime("%d/%m/%Y")
    assert len(reminder) == 1 and new_local in reminder[0]["body"], reminder
    assert not [m for m in run.messages("sms", other) if "Nhac lich" in m["body"]]
    assert len([m for m in run.messages("sms", citizen) if "duoc chuyen tu" in m["body"]]) == 1


def test_worker_killed_mid_journey_loses_nothing_and_sends_nothing_twice(system: Running):
    run = system
    citizens = [phone(50 + n) for n in range(8)]
    codes = {}
    run.system.kill("notify-worker")  # down while petitions arrive
    for n, number in enumerate(citizens[:4]):
        codes[number] = submit(run, f"Đèn đường thôn {n} hỏng nhiều tháng",
                               "Hệ thống đèn chiếu sáng đường thôn hỏng nhiều tháng, "
                               "buổi tối đi lại nguy hiểm.", number)["tracking_code"]
    run.system.restart("notify-worker")
    run.wait_messages("sms", citizens[0], containing=codes[citizens[0]])
    # ...and the intake worker dies in the middle of the next burst
    for n, number in enumerate(citizens[4:]):
        codes[number] = submit(run, f"Cống thoát nước xóm {n} bị vỡ",
                               "Cống thoát nước của xóm bị vỡ, nước thải tràn ra đường.",
                               number)["tracking_code"]
        if n == 1:
            run.system.kill("intake-worker")
            run.system.restart("intake-worker")
    for number in citizens:
        run.wait_messages("sms", number, containing=codes[number], timeout=90)
    settle(run)
    for number in citizens:
        got = [m for m in run.messages("sms", number) if codes[number] in m["body"]]
        assert len(got) == 1, (number, got)
