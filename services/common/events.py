"""The event envelope (CloudEvents 1.0, structured JSON) and the registry of event types.

Every event type has one marshmallow schema per version, registered once here
(the schemas themselves live in ``services.common.contracts``). Producers
validate before publishing and consumers validate on receipt, against the same
schema. ``dataschema`` names the type and version, so a consumer can accept two
versions side by side.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from marshmallow import EXCLUDE, Schema, ValidationError

from services.common import logs
from services.common.clock import aware, utcnow

_FORMAT = JSONFormat()
SCHEMA_BASE = "https://doithoai.github.io/contracts/schemas"
_NAMESPACE = uuid.UUID("6f1c9a52-3e0b-4f0e-9b8e-2d4c1f7a5e10")


class EventSchema(Schema):
    """Base of every event payload schema.

    Unknown fields are dropped on receipt so that a producer may add optional
    fields before every consumer knows them (schema evolution in place).
    """

    class Meta:
        unknown = EXCLUDE


class InvalidEvent(ValueError):
    """A record that is not a valid event of a known type: dead-letter material."""


@dataclass(frozen=True)
class EventType:
    type: str
    version: int
    topic: str
    schema: type[Schema]
    description: str
    also_on: tuple[str, ...] = ()  # other topics that may carry it (e.g. agency reports)

    @property
    def topics(self) -> tuple[str, ...]:
        return (self.topic, *self.also_on)

    @property
    def dataschema(self) -> str:
        return f"{SCHEMA_BASE}/{self.type}.v{self.version}.json"

    @cached_property
    def validator(self) -> Schema:
        # One instance per type: building a schema (its fields deep-copied) cost more
        # than the dump and validation each event needs; instances hold no state.
        return self.schema()


class Registry:
    """All event types the system knows, by (type, version)."""

    def __init__(self) -> None:
        self._types: dict[tuple[str, int], EventType] = {}
        self._by_schema: dict[str, EventType] = {}

    def register(self, event_type: EventType) -> None:
        key = (event_type.type, event_type.version)
        if key in self._types:
            raise ValueError(f"event type {key} registered twice")
        self._types[key] = event_type
        self._by_schema[event_type.dataschema] = event_type

    def get(self, type_: str, version: int | None = None) -> EventType:
        if version is None:
            version = self.latest(type_)
        try:
            return self._types[(type_, version)]
        except KeyError:
            raise InvalidEvent(f"unknown event type {type_} v{version}") from None

    def latest(self, type_: str) -> int:
        versions = [v for (t, v) in self._types if t == type_]
        if not versions:
            raise InvalidEvent(f"unknown event type {type_}")
        return max(versions)

    def by_dataschema(self, dataschema: str | None, type_: str) -> EventType:
        if dataschema:
            found = self._by_schema.get(dataschema)
            if found is None or found.type != type_:
                raise InvalidEvent(f"unknown dataschema {dataschema} for {type_}")
            return found
        return self.get(type_)

    def all(self) -> list[EventType]:
        return sorted(self._types.values(), key=lambda t: (t.topic, t.type, t.version))

    def topics(self) -> list[str]:
        return sorted({topic for t in self._types.values() for topic in t.topics})

    def types_on(self, topic: str) -> list[EventType]:
        return [t for t in self.all() if topic in t.topics]


REGISTRY = Registry()


def event(type_: str, *, topic: str, version: int = 1, description: str = "",
          also_on: tuple[str, ...] = ()):
    """Class decorator registering a payload schema as event type ``type_``."""

    def register(schema: type[Schema]) -> type[Schema]:
        REGISTRY.register(EventType(type_, version, topic, schema,
                                    description or (schema.__doc__ or "").strip(), also_on))
        return schema

    return register


@dataclass(frozen=True)
class Event:
    """One event. ``data`` holds Python values (datetimes, not strings)."""

    type: str
    subject: str
    data: dict[str, Any]
    source: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=utcnow)
    version: int = 1
    correlation_id: str | None = None
    causation_id: str | None = None

    @property
    def event_type(self) -> EventType:
        return REGISTRY.get(self.type, self.version)

    @property
    def topic(self) -> str:
        """The logical topic (without any deployment prefix)."""
        return self.event_type.topic

    def derived_id(self, *parts: str) -> str:
        """A stable id for something this event causes, the same on every replay."""
        return str(uuid.uuid5(_NAMESPACE, "/".join((self.id, *parts))))

    def to_json(self) -> bytes:
        """Structured-mode CloudEvent bytes."""
        event_type = self.event_type
        attributes: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time,
            "datacontenttype": "application/json",
            "dataschema": event_type.dataschema,
        }
        if self.correlation_id:
            attributes["correlationid"] = self.correlation_id
        if self.causation_id:
            attributes["causationid"] = self.causation_id
        data = event_type.validator.dump(self.data)
        return _FORMAT.write(CloudEvent(attributes, data))

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        """Parse and validate a structured-mode CloudEvent; raise InvalidEvent if it is not one."""
        try:
            ce = _FORMAT.read(CloudEvent, raw)
        except (ValueError, TypeError, KeyError, AttributeError,
                BaseCloudEventException) as exc:  # a JSON array or string: AttributeError
            raise InvalidEvent(f"not a CloudEvent: {exc}") from exc
        event_type = REGISTRY.by_dataschema(ce.get_dataschema(), ce.get_type())
        payload = ce.get_data()
        if not isinstance(payload, dict):
            raise InvalidEvent("event data must be a JSON object")
        try:
            data = event_type.validator.load(payload)
        except ValidationError as exc:
            raise InvalidEvent(f"{event_type.type} v{event_type.version} "
                               f"failed its schema: {json.dumps(exc.messages)}") from exc
        subject = ce.get_subject()
        if not subject:
            raise InvalidEvent("event has no subject (the aggregate id)")
        time = ce.get_time()
        return cls(
            type=event_type.type, version=event_type.version, subject=subject, data=data,
            source=ce.get_source(), id=ce.get_id(), time=aware(time) if time else utcnow(),
            correlation_id=ce.get_extension("correlationid"),
            causation_id=ce.get_extension("causationid"),
        )


def new_event(type_: str, subject: str, data: dict[str, Any], *, source: str,
              version: int | None = None, cause: Event | None = None,
              event_id: str | None = None, time: datetime | None = None) -> Event:
    """Build and validate an event. ``cause`` links it into the chain that led to it.

    The correlation id comes from the cause, or else from the request or
    message being handled, so that one citizen's petition can be followed
    through every service.
    """
    event_type = REGISTRY.get(type_, version)
    schema = event_type.validator
    unknown = set(data) - set(schema.fields)
    if unknown:
        raise ValueError(f"{type_}: unknown fields {sorted(unknown)}")
    errors = schema.validate(schema.dump(data))
    if errors:
        raise ValueError(f"{type_}: invalid data {errors}")
    event_id = event_id or str(uuid.uuid4())
    if cause is not None:
        correlation, causation = cause.correlation_id or cause.id, cause.id
    else:
        correlation = logs.correlation_id.get() or event_id
        causation = logs.causation_id.get()
    return Event(type=type_, version=event_type.version, subject=subject, data=data,
                 source=source, id=event_id, time=time or utcnow(),
                 correlation_id=correlation, causation_id=causation)
