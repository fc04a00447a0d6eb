"""Errors the domain raises, each with the HTTP status the API answers with.

Domain code stays free of Flask; the app factory turns these into
``application/problem+json`` responses (RFC 9457).
"""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    title = "Bad request"
    detail_vi = "Yêu cầu không hợp lệ."

    def __init__(self, detail: str, *, detail_vi: str | None = None, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        if detail_vi:
            self.detail_vi = detail_vi
        self.extra = extra


class NotFound(DomainError):
    status = 404
    title = "Not found"
    detail_vi = "Không tìm thấy."


class Conflict(DomainError):
    """An illegal transition or a clash; nothing was changed."""

    status = 409
    title = "Conflict"
    detail_vi = "Thao tác không thực hiện được ở trạng thái hiện tại."


class Invalid(DomainError):
    """Bad input found by a domain rule rather than by the schema; names the field."""

    status = 422
    title = "Unprocessable content"
    detail_vi = "Dữ liệu không hợp lệ."

    def __init__(self, field: str, detail: str, *, detail_vi: str | None = None) -> None:
        super().__init__(detail, detail_vi=detail_vi, errors={field: [detail]})


class TooManyRequests(DomainError):
    status = 429
    title = "Too many requests"
    detail_vi = "Bạn gửi quá nhiều yêu cầu, vui lòng thử lại sau ít phút."
