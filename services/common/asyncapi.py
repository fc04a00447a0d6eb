"""AsyncAPI 3.0 document and JSON Schemas generated from the event registry.

``python -m services.common.asyncapi docs/`` writes ``docs/asyncapi.json`` and
``docs/schemas/<type>.v<version>.json``; they are never written by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from services.common import contracts  # noqa: F401 - registers every event type
from services.common.events import REGISTRY, SCHEMA_BASE, EventType

PRODUCERS = {"intake": "intake", "scheduling": "scheduling", "followup": "followup",
             "notify": "notify", "agency": "agency systems",
             "agency.<agency_id>.commitments": "followup"}


def _converter():
    plugin = MarshmallowPlugin(schema_name_resolver=lambda _schema: None)
    APISpec("contracts", "1", "3.1.0", plugins=[plugin])
    return plugin.converter


def data_schema(event_type: EventType) -> dict[str, Any]:
    """JSON Schema (2020-12) of one event type's ``data``."""
    schema = _converter().schema2jsonschema(event_type.schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": event_type.dataschema,
            "title": f"{event_type.type} v{event_type.version}",
            "description": event_type.description, **schema}


def envelope_schema(event_type: EventType) -> dict[str, Any]:
    """The CloudEvents structured-mode envelope carrying this event type."""
    data = data_schema(event_type)
    data = {k: v for k, v in data.items() if k not in ("$schema", "$id")}
    return {
        "type": "object",
        "required": ["specversion", "id", "source", "type", "subject", "time",
                     "datacontenttype", "dataschema", "data"],
        "properties": {
            "specversion": {"type": "string", "const": "1.0"},
            "id": {"type": "string", "format": "uuid"},
            "source": {"type": "string"},
            "type": {"type": "string", "const": event_type.type},
            "subject": {"type": "string", "description": "aggregate id; also the Kafka key"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"type": "string", "const": "application/json"},
            "dataschema": {"type": "string", "const": event_type.dataschema},
            "correlationid": {"type": "string"},
            "causationid": {"type": "string"},
            "data": data,
        },
    }


def _key(text: str) -> str:
    return text.replace(".", "_").replace("<", "").replace(">", "")


def document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in REGISTRY.topics():
        channel = _key(topic)
        channel_messages = {}
        for event_type in REGISTRY.types_on(topic):
            name = _key(f"{event_type.type}_v{event_type.version}")
            messages[name] = {
                "name": event_type.type,
                "title": f"{event_type.type} v{event_type.version}",
                "summary": event_type.description,
                "contentType": "application/cloudevents+json",
                "headers": {"type": "object", "properties": {
                    "content-type": {"type": "string", "const": "application/cloudevents+json"}}},
                "payload": envelope_schema(event_type),
            }
            channel_messages[name] = {"$ref": f"#/components/messages/{name}"}
        address = topic.replace("<agency_id>", "{agency_id}")
        channels[channel] = {"address": address, "messages": channel_messages,
                             "description": f"Kafka topic {address}, keyed by the aggregate id."}
        if "{agency_id}" in address:
            channels[channel]["parameters"] = {"agency_id": {
                "description": "the agency's id, e.g. so-tnmt-37"}}
        producer = PRODUCERS.get(topic) or PRODUCERS.get(topic.split(".")[0], topic.split(".")[0])
        operations[f"publish_{channel}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"Published by {producer}.",
            "messages": [{"$ref": f"#/channels/{channel}/messages/{m}"}
                         for m in channel_messages],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Đối thoại — event contracts", "version": "1.0.0",
                 "description": "Events exchanged by the services of the dialogue platform "
                                "and the agencies' systems. Every message is a CloudEvents 1.0 "
                                "envelope in structured JSON mode."},
        "defaultContentType": "application/cloudevents+json",
        "servers": {"local": {"host": "127.0.0.1:9092", "protocol": "kafka",
                              "description": "development broker"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def write(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "schemas").mkdir(exist_ok=True)
    written = [out / "asyncapi.json"]
    written[0].write_text(json.dumps(document(), ensure_ascii=False, indent=2) + "\n")
    for event_type in REGISTRY.all():
        path = out / "schemas" / f"{event_type.type}.v{event_type.version}.json"
        path.write_text(json.dumps(data_schema(event_type), ensure_ascii=False, indent=2) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    paths = write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
    print(f"wrote {len(paths)} files under {paths[0].parent} ({SCHEMA_BASE})")
