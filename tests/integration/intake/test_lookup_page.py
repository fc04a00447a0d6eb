"""The /tra-cuu page that acknowledgement SMS point citizens to."""

from __future__ import annotations

from tests.integration.intake.conftest import petition

BASE = "/api/v1/petitions"


def test_lookup_page_shows_status_and_hides_wrong_factor(client):
    created = client.post(BASE, json=petition()).json
    code = created["tracking_code"]

    page = client.get(f"/tra-cuu?code={code}&phone_last4=5678")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "Trạng thái: Đã tiếp nhận" in html
    assert "Đường Trần Hưng Đạo ngập sâu" in html
    assert "Phạm Văn Hùng" not in html and "0912" not in html  # no personal data

    wrong = client.get(f"/tra-cuu?code={code}&phone_last4=1111")
    assert wrong.status_code == 404
    assert "Trạng thái" not in wrong.get_data(as_text=True)

    form = client.get("/tra-cuu")
    assert form.status_code == 200 and 'name="code"' in form.get_data(as_text=True)


def test_lookup_page_escapes_what_citizens_typed(client):
    created = client.post(BASE, json=petition(
        title="<script>alert(1)</script> đường ngập")).json
    html = client.get(f"/tra-cuu?code={created['tracking_code']}&phone_last4=5678"
                      ).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
