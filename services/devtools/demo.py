"""`python -m services.cli demo`: seeds a Ninh Bình scenario into the running system.

Everything goes through the public HTTP APIs and the Kafka topics that outside
systems use (``intake.submissions``, ``agency.<id>.reports``); nothing is written
to a database directly.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from kafka import KafkaProducer

from services.common import agencies
from services.common.auth import issue_token
from services.common.clock import VN_TZ, vn_datetime
from services.common.config import Settings
from services.common.crypto import public_key_of, seal
from services.common.kafka import client_config
from services.common.kafka_security import operator
from services.common.localities import ward

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "petitions.jsonl"
PROVINCE = "37"
# The agencies the demo assigns conclusions to, named as in the platform's one list.
AGENCIES = {a: agencies.load()[a] for a in ("so-nnmt-37", "so-xd-37", "so-yt-37", "so-nv-37",
                                            "ca-37")}
BY_CATEGORY = {"land": "so-nnmt-37", "environment": "so-nnmt-37", "infrastructure": "so-xd-37",
               "construction": "so-xd-37", "social_policy": "so-nv-37", "labour": "so-nv-37",
               "administrative": "so-nv-37", "civil_status": "ca-37",
               "security": "ca-37"}
SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đinh", "Bùi", "Đỗ", "Ngô"]
GIVEN = ["Văn An", "Thị Bình", "Văn Cường", "Thị Dung", "Minh Đức", "Thị Hà", "Văn Hùng",
         "Thị Lan", "Quang Minh", "Thị Nga", "Văn Phúc", "Thị Thu"]


class Demo:
    def __init__(self, host: str, out=sys.stdout) -> None:
        self.settings = Settings.from_env()
        self.host = host
        self.out = out
        self.timeline: list[tuple[str, str]] = []
        self.http = requests.Session()
        self.rng = random.Random(37)
        self.admin = self._token("admin", province_code=PROVINCE)
        self.secretariat = self._token("secretariat", "host", province_code=PROVINCE)

    def _token(self, *roles: str, **scope: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + issue_token(self.settings, f"demo-{roles[0]}",
                                                         list(roles), **scope)}

    def url(self, service: str, path: str) -> str:
        port = {"intake": 8001, "scheduling": 8002, "followup": 8003, "notify": 8004}[service]
        return f"http://{self.host}:{port}{path}"

    def call(self, method: str, service: str, path: str, body: Any = None,
             headers: dict[str, str] | None = None, ok: tuple[int, ...] = (200, 201)) -> Any:
        response = self.http.request(method, self.url(service, path), json=body,
                                     headers=headers or {}, timeout=30)
        if response.status_code not in ok:
            raise SystemExit(f"demo: {method} {service}{path} answered "
                             f"{response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def note(self, text: str) -> None:
        stamp = datetime.now(UTC).astimezone(VN_TZ).strftime("%H:%M:%S")
        self.timeline.append((stamp, text))
        self.out.write(f"  {stamp}  {text}\n")
        self.out.flush()

    def progress(self, done: int, total: int, label: str) -> None:
        from services.cli import progress

        progress(done, total, f"  {label:<28}", out=self.out)

    # --- steps -------------------------------------------------------------------------

    def check(self) -> None:
        for service in ("intake", "scheduling", "followup", "notify"):
            try:
                self.http.get(self.url(service, "/readyz"), timeout=3).raise_for_status()
            except requests.RequestException as exc:
                raise SystemExit(f"demo: {service} is not ready ({exc}); start it with make run"
                                 ) from None

    def directory(self, wards: list[str]) -> None:
        for agency, name in AGENCIES.items():
            self.call("PUT", "notify", f"/api/v1/directory/agencies/{agency}",
                      {"name": name, "email": f"vanthu.{agency}@ninhbinh.gov.vn"}, self.admin)
        for code in wards:
            for role, label in (("host", "Chủ tịch UBND"), ("secretariat", "Văn phòng UBND"),
                                ("front", "Ủy ban MTTQ")):
                self.call("PUT", "notify", "/api/v1/directory/localities",
                          {"name": f"{label} {ward(code).name}", "role": role,
                           "email": f"{role}.{code}@ninhbinh.gov.vn",
                           "province_code": PROVINCE, "ward_code": code}, self.admin)
        self.note(f"directory: {len(AGENCIES)} agencies, host/secretariat/Front of "
                  f"{len(wards)} communes")

    def programme(self, year: int) -> None:
        programme = self.call("POST", "scheduling", "/api/v1/programmes", {
            "locality": {"province_code": PROVINCE}, "year": year,
            "title": f"Chương trình đối thoại năm {year} của tỉnh Ninh Bình",
            "items": [{"period": f"{year}-Q{q}", "kind": kind, "topic": topic}
                      for q, kind, topic in ((1, "periodic", "Đối thoại định kỳ quý I"),
                                             (2, "thematic", "Đất đai và giải phóng mặt bằng"),
                                             (3, "thematic", "Môi trường và chống ngập"),
                                             (4, "periodic", "Đối thoại định kỳ cuối năm"))]},
            self.secretariat)
        self.call("POST", "scheduling", f"/api/v1/programmes/{programme['id']}/publish", {},
                  self.secretariat)
        self.note(f"annual programme {year} published (4 planned dialogues)")

    def petitioner(self) -> dict[str, Any]:
        return {"full_name": f"{self.rng.choice(SURNAMES)} {self.rng.choice(GIVEN)}",
                "phone": f"+8491{self.rng.randrange(10**7):07d}",
                "consent_notifications": True}

    def petitions(self, rows: list[dict[str, Any]], over_kafka: int) -> None:
        http_rows, kafka_rows = rows[over_kafka:], rows[:over_kafka]
        for done, row in enumerate(http_rows, 1):
            self.call("POST", "intake", "/api/v1/petitions", {
                "kind": "feedback", "title": row["title"], "content": row["content"],
                "category": row["category"], "channel": "web",
                "locality": {"province_code": PROVINCE, "ward_code": row["ward_code"]},
                "petitioner": self.petitioner()}, self.secretariat)
            self.progress(done, len(http_rows), "petitions over HTTP")
        intake_key = public_key_of(_intake_private_keys())
        producer = KafkaProducer(**client_config(operator(self.settings)), acks="all")
        try:
            for done, row in enumerate(kafka_rows, 1):
                ref = f"DVC-{uuid.uuid4().hex[:10].upper()}"
                envelope = _envelope("petition.submitted", ref, "urn:dvcqg", {
                    "external_ref": ref, "source_system": "Cổng Dịch vụ công quốc gia",
                    "kind": "feedback", "title": row["title"], "content": row["content"],
                    "category": row["category"], "channel": "external",
                    "locality": {"province_code": PROVINCE, "ward_code": row["ward_code"]},
                    "petitioner_token": seal(intake_key, self.petitioner())})
                producer.send(f"{self.settings.topic_prefix}intake.submissions",
                              key=ref.encode(), value=envelope)
                self.progress(done, len(kafka_rows), "petitions over Kafka")
            producer.flush()
        finally:
            producer.close()
        self.note(f"{len(http_rows)} petitions over HTTP, {len(kafka_rows)} from the national "
                  "public-service portal over intake.submissions")

    def hot_issues(self, wards: list[str], want: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 90
        while True:
            found = []
            for code in wards:
                page = self.call("GET", "scheduling",
                                 f"/api/v1/agenda-candidates?ward_code={code}&page_size=3",
                                 headers=self.secretariat)
                found += [i for i in page["items"] if i["trending"]]
            if len(found) >= want or time.monotonic() > deadline:
                found.sort(key=lambda i: -i["heat"])
                self.note(f"{len(found)} hot issues emerged; hottest: "
                          + "; ".join(f"“{i['title']}” (heat {i['heat']:.0f}, "
                                      f"{i['petition_count']} petitions)" for i in found[:3]))
                return found[:want]
            time.sleep(2)

    def dialogue(self, issue: dict[str, Any], n: int) -> str:
        code = issue["locality"]["ward_code"]
        starts = datetime.now(UTC) + timedelta(seconds=8)
        agency = BY_CATEGORY.get(issue.get("category") or "", "so-xd-37")
        dialogue = self.call("POST", "scheduling", "/api/v1/dialogues", {
            "kind": "ad_hoc", "level": "commune",
            "locality": {"province_code": PROVINCE, "ward_code": code},
            "host": {"name": f"Chủ tịch UBND {ward(code).name}", "title": "Chủ tịch UBND xã"},
            "lead_agency_id": agency, "format": "hybrid",
            "venue": f"Hội trường UBND {ward(code).name}",
            "online_url": f"https://hop.ninhbinh.gov.vn/doi-thoai-{n}",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "topic": issue["title"]}, self.secretariat)
        dialogue_id = dialogue["id"]
        self.call("POST", "scheduling", f"/api/v1/dialogues/{dialogue_id}/suggest-agenda",
                  {"limit": 2}, self.secretariat)
        self.call("POST", "scheduling", f"/api/v1/dialogues/{dialogue_id}/agenda-items", {
            "title": issue["title"], "issue_id": issue["issue_id"],
            "petition_ids": issue["petition_ids"]}, self.secretariat, ok=(200, 201, 409))
        self.call("POST", "scheduling", f"/api/v1/dialogues/{dialogue_id}/announce",
                  {"reason": "Vấn đề nóng, nhiều người dân phản ánh trong tuần"},
                  self.secretariat)
        self.note(f"ad hoc dialogue announced in {ward(code).name} on “{issue['title']}” "
                  f"at {vn_datetime(starts)}")
        time.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 0.5)
        self.call("POST", "scheduling", f"/api/v1/dialogues/{dialogue_id}/hold", {
            "attendance": {"total": 140, "citizens": 110, "front": 8, "organisations": 12,
                           "agencies": 10},
            "minutes": "Người dân trình bày ý kiến; lãnh đạo xã và các sở trả lời, tiếp thu."},
            self.secretariat)
        deadline = (datetime.now(UTC).astimezone(VN_TZ) + timedelta(days=30)).date()
        self.call("POST", "scheduling", f"/api/v1/dialogues/{dialogue_id}/conclude", {
            "notice_number": f"{10 + n}/TB-UBND", "issued_at": datetime.now(UTC).isoformat(),
            "signed_by": f"Chủ tịch UBND {ward(code).name}",
            "conclusions": [
                {"text": f"Giải quyết dứt điểm: {issue['title']}",
                 "responsible_agency_id": agency, "deadline": deadline.isoformat(),
                 "petition_ids": issue["petition_ids"]},
                {"text": "Rà soát, báo cáo các vướng mắc liên quan trong 15 ngày làm việc",
                 "responsible_agency_id": agency, "working_days": 15,
                 "petition_ids": []}]}, self.secretariat)
        self.note(f"held and concluded: notice {10 + n}/TB-UBND, 2 conclusions for {agency}")
        return dialogue_id

    def resolve(self, dialogue_id: str, over_kafka: bool) -> None:
        commitments = self._commitments(dialogue_id)
        first = commitments[0]
        answer = ("Đơn vị đã kiểm tra thực địa, bố trí kinh phí và hoàn thành khắc phục; "
                  "kết quả đã được niêm yết tại trụ sở UBND xã.")
        if over_kafka:
            producer = KafkaProducer(**client_config(operator(self.settings)), acks="all")
            try:
                envelope = _envelope("commitment.resolution_submitted", first["id"],
                                     f"urn:agency:{first['agency_id']}", {
                                         "commitment_id": first["id"],
                                         "agency_id": first["agency_id"],
                                         "answer": answer, "outcome": "resolved"})
                producer.send(f"{self.settings.topic_prefix}agency.{first['agency_id']}.reports",
                              key=first["id"].encode(), value=envelope).get(timeout=30)
            finally:
                producer.close()
            how = f"over its topic agency.{first['agency_id']}.reports"
        else:
            officer = self._token("agency_officer", agency_id=first["agency_id"],
                                  province_code=PROVINCE)
            self.call("POST", "followup", f"/api/v1/commitments/{first['id']}/progress",
                      {"note": "Đã khảo sát hiện trường, lập dự toán", "percent": 40}, officer)
            self.call("POST", "followup", f"/api/v1/commitments/{first['id']}/resolve",
                      {"answer": answer, "outcome": "resolved"}, officer)
            how = "over HTTP"
        self.note(f"{first['agency_id']} resolved “{first['text'][:50]}…” {how}")

    def _commitments(self, dialogue_id: str) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            page = self.call("GET", "followup", f"/api/v1/commitments?dialogue_id={dialogue_id}",
                             headers=self.secretariat)
            if page["items"]:
                return sorted(page["items"], key=lambda c: c["text"])
            time.sleep(1)
        raise SystemExit(f"demo: no commitment appeared for dialogue {dialogue_id}")

    def summary(self, dialogue_ids: list[str]) -> None:
        time.sleep(3)
        sink = f"http://{self.host}:8025/messages"
        try:
            messages = self.http.get(sink, timeout=5).json()
        except requests.RequestException:
            messages = []
        sms = sum(m["channel"] == "sms" for m in messages)
        email = sum(m["channel"] == "email" for m in messages)
        self.out.write("\nWhat happened:\n")
        for stamp, text in self.timeline:
            self.out.write(f"  {stamp}  {text}\n")
        year = datetime.now(UTC).astimezone(VN_TZ).year
        self.out.write(
            "\nWhere to look:\n"
            f"  messages received by the sinks: {sms} SMS, {email} e-mails  →  {sink}\n"
            f"  compliance of Ninh Bình's 129 communes  →  "
            f"{self.url('scheduling', f'/api/v1/compliance?province_code={PROVINCE}&year={year}')}"
            "  (officer token)\n"
            + "".join(f"  accountability page  →  "
                      f"{self.url('followup', f'/api/v1/public/dialogues/{d}/accountability')}\n"
                      for d in dialogue_ids)
            + f"  commitments report  →  "
            f"{self.url('followup', f'/api/v1/reports/commitments?province_code={PROVINCE}')}\n"
            f"  hot issues  →  {self.url('intake', '/api/v1/issues?province_code=37')}\n")


def _intake_private_keys() -> str:
    from services.intake.settings import IntakeSettings

    return IntakeSettings.from_env().intake_private_keys


def _envelope(type_: str, subject: str, source: str, data: dict[str, Any]) -> bytes:
    return json.dumps({
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": source, "type": type_,
        "subject": subject, "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "dataschema": f"https://doithoai.github.io/contracts/schemas/{type_}.v1.json",
        "data": data}, ensure_ascii=False).encode()


def run(args: argparse.Namespace) -> int:
    demo = Demo(args.host)
    demo.check()
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    random.Random(7).shuffle(rows)
    rows = rows[: args.petitions]
    wards = sorted({r["ward_code"] for r in rows})
    print(f"Seeding Ninh Bình: {len(rows)} petitions in {len(wards)} communes")
    demo.directory(wards)
    demo.programme(datetime.now(UTC).astimezone(VN_TZ).year)
    demo.petitions(rows, over_kafka=len(rows) // 4)
    issues = demo.hot_issues(wards, args.dialogues)
    dialogue_ids = []
    for n, issue in enumerate(issues, 1):
        dialogue_ids.append(demo.dialogue(issue, n))
    for n, dialogue_id in enumerate(dialogue_ids):
        demo.resolve(dialogue_id, over_kafka=n % 2 == 1)
    demo.summary(dialogue_ids)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="seed a Ninh Bình scenario into the running system")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--petitions", type=int, default=300)
    demo.add_argument("--dialogues", type=int, default=3)
    demo.set_defaults(func=run)
