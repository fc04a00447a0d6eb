"""Configuration from environment variables, validated once at start-up.

Every variable has a documented default that works on a developer's machine; a
bad value stops the process with one clear line naming the variable.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from typing import Any


class ConfigError(SystemExit):
    """A setting is missing or malformed; the process cannot start."""

    def __init__(self, message: str) -> None:
        super().__init__(f"configuration error: {message}")


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} must be between {low} and {high}")
    return value


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name}={raw!r} must be true or false")


def _choice(name: str, raw: str, options: tuple[str, ...]) -> str:
    if raw not in options:
        raise ConfigError(f"{name}={raw!r} must be one of {', '.join(options)}")
    return raw


def setting(env: str, default: Any, doc: str, **rules: Any) -> Any:
    """Declare a setting: its variable, default, one-line description and checks."""
    return field(default=default, metadata={"env": env, "doc": doc, **rules})


@dataclass(frozen=True)
class Settings:
    """Settings shared by every service. Each service reads the ones it needs."""

    service: str = setting("SERVICE_NAME", "dev",
                           "service name, used as event source and log field")
    env: str = setting("DOITHOAI_ENV", "development", "development, test or production",
                       choices=("development", "test", "production"))
    kafka_bootstrap: str = setting("KAFKA_BOOTSTRAP", "127.0.0.1:9092", "Kafka bootstrap servers")
    kafka_partitions: int = setting("KAFKA_PARTITIONS", 3, "partitions per topic", low=1, high=1000)
    kafka_replication: int = setting("KAFKA_REPLICATION", 1, "replication factor per topic",
                                     low=1, high=7)
    kafka_security_protocol: str = setting(
        "KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT",
        "SASL_PLAINTEXT locally, SASL_SSL in production (PLAINTEXT only for a broker without "
        "authentication)", choices=("SASL_PLAINTEXT", "SASL_SSL", "PLAINTEXT", "SSL"))
    kafka_sasl_mechanism: str = setting("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512",
                                        "SASL mechanism",
                                        choices=("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"))
    kafka_username: str = setting("KAFKA_USERNAME", "",
                                  "Kafka principal; empty: the service's own (SERVICE_NAME)")
    kafka_password: str = setting("KAFKA_PASSWORD", "",
                                  "its password (or KAFKA_PASSWORD_FILE)")
    kafka_password_file: str = setting(
        "KAFKA_PASSWORD_FILE", "",
        "file holding the password; empty: <DOITHOAI_VAR>/kafka/users/<user>.password, "
        "written by the local set-up")
    kafka_ssl_cafile: str = setting("KAFKA_SSL_CAFILE", "",
                                    "CA bundle that signed the brokers' certificates (SASL_SSL)")
    kafka_max_event_bytes: int = setting(
        "KAFKA_MAX_EVENT_BYTES", 262_144,
        "a consumed record larger than this is dead-lettered as oversized", low=1024,
        high=16_777_216)
    var_dir: str = setting("DOITHOAI_VAR", "var", "data, logs and local credentials")
    topic_prefix: str = setting("TOPIC_PREFIX", "",
                                "prefix for every topic and group (test isolation)")
    mongo_url: str = setting("MONGO_URL", "mongodb://127.0.0.1:27017/", "MongoDB connection string")
    db_prefix: str = setting("DB_PREFIX", "", "prefix for every database name (test isolation)")
    jwt_secret: str = setting("JWT_SECRET", "dev-secret-change-me-32-bytes-long!",
                              "HS256 secret for officer tokens (local and test)")
    jwt_jwks_url: str = setting("JWT_JWKS_URL", "", "JWKS URL for RS256 tokens (production)")
    jwt_accept_local: bool = setting("JWT_ACCEPT_LOCAL", False,
                                     "with JWT_JWKS_URL, also accept local HS256 tokens "
                                     "(make run: the CLI and make demo); never in production")
    jwt_audience: str = setting("JWT_AUDIENCE", "doithoai", "expected token audience")
    jwt_issuer: str = setting("JWT_ISSUER", "doithoai-local", "expected token issuer")
    pii_keys: str = setting(
        "PII_KEYS", "dev:pdlSX1AjuVn6CrVMYivW3xptodH0wEyFx/8ddAeMzm0=",
        "keys for personal data at rest, 'id:base64(32 bytes)[,…]'; the first encrypts")
    fingerprint_key: str = setting(
        "PII_FINGERPRINT_KEY", "1hi0nRBIWqtc9Ba2li9rwbjRPAUv4A1UQ2kIe4BhhlA=",
        "base64 key of the keyed hashes used to compare personal data; never rotated")
    contact_public_key: str = setting(
        "CONTACT_PUBLIC_KEY", "dev:zFVxLaGm2ZH6pvw4kA9S4Rz6LLX/Tno4e/Jbm01/azM=",
        "notify's X25519 public key 'id:base64'; contact tokens in events are sealed to it")
    log_level: str = setting("LOG_LEVEL", "INFO", "log level",
                             choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    public_rate_limit: int = setting("PUBLIC_RATE_LIMIT", 30,
                                     "public submissions per client address per minute",
                                     low=1, high=1_000_000)
    public_base_url: str = setting("PUBLIC_BASE_URL", "http://127.0.0.1:8001",
                                   "address citizens use to look up a petition")

    def validate(self) -> None:
        from services.common.crypto import parse_keys

        for env, value in (("PII_KEYS", self.pii_keys),
                           ("CONTACT_PUBLIC_KEY", self.contact_public_key)):
            try:
                parse_keys(value)
            except ValueError as exc:
                raise ConfigError(f"{env}: {exc}") from None
        kafka_check(self)
        if self.env == "production" and "dev-secret" in self.jwt_secret and not self.jwt_jwks_url:
            raise ConfigError("JWT_SECRET: set a real secret or JWT_JWKS_URL in production")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        return load(cls, environ, **overrides)

    @classmethod
    def of(cls, base: Settings | None = None, **overrides: Any) -> Any:
        """The one way a service gets its settings class (``IntakeSettings.of(...)``): from
        the environment without ``base``; else ``base`` (a plain ``Settings``, as tests
        make them) extended with this class's own variables at their defaults."""
        if base is None:
            return cls.from_env(**overrides)
        if type(base) is cls and not overrides:
            return base
        values = {f.name: getattr(base, f.name) for f in fields(base) if f.init}
        values.update(overrides)
        settings = cls(**{k: v for k, v in values.items() if k in _names(cls)})
        settings.validate()
        return settings


# RFC 5802 names are not escaped by kafka-python: ',' and '=' would break the exchange.
_USERNAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def kafka_check(settings: Settings) -> None:
    """Checks of the Kafka security settings that need no file (run at load)."""
    if settings.kafka_username and not _USERNAME.match(settings.kafka_username):
        raise ConfigError(f"KAFKA_USERNAME={settings.kafka_username!r} may hold only letters, "
                          "digits, '.', '_' and '-'")
    if settings.kafka_password and settings.kafka_password_file:
        raise ConfigError("KAFKA_PASSWORD and KAFKA_PASSWORD_FILE are both set; keep one")
    if settings.kafka_ssl_cafile and not os.path.isfile(settings.kafka_ssl_cafile):
        raise ConfigError(f"KAFKA_SSL_CAFILE={settings.kafka_ssl_cafile!r} is not a file")


def kafka_credentials(settings: Settings) -> tuple[str, str]:
    """(user, password) of this process's Kafka principal, or one clear line saying why not."""
    user = settings.kafka_username or settings.service
    if not _USERNAME.match(user):
        raise ConfigError(f"KAFKA_USERNAME: {user!r} is not a usable Kafka principal name")
    if settings.kafka_password:
        return user, settings.kafka_password
    path = settings.kafka_password_file or os.path.join(
        settings.var_dir, "kafka", "users", f"{user}.password")
    try:
        with open(path, encoding="utf-8") as handle:
            password = handle.read().strip()
    except OSError as exc:
        where = "KAFKA_PASSWORD_FILE" if settings.kafka_password_file else "KAFKA_PASSWORD"
        raise ConfigError(
            f"{where}: no password for Kafka user {user!r} ({path}: {exc.strerror}); set "
            "KAFKA_PASSWORD or KAFKA_PASSWORD_FILE, or run make infra-up locally") from None
    if not password:
        raise ConfigError(f"KAFKA_PASSWORD_FILE: {path} is empty (Kafka user {user!r})")
    return user, password


def load(cls: type, environ: dict[str, str] | None = None, **overrides: Any) -> Any:
    """Build settings dataclass ``cls`` from ``environ`` (default ``os.environ``)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in overrides:
            values[f.name] = overrides[f.name]
            continue
        meta = f.metadata
        raw = environ.get(meta["env"])
        if raw is None:
            continue
        if isinstance(f.default, bool):
            values[f.name] = _bool(meta["env"], raw)
        elif isinstance(f.default, int):
            values[f.name] = _int(meta["env"], raw, meta.get("low", -(2**62)),
                                  meta.get("high", 2**62))
        elif isinstance(f.default, float):
            try:
                values[f.name] = float(raw)
            except ValueError:
                raise ConfigError(f"{meta['env']}={raw!r} is not a number") from None
        else:
            values[f.name] = raw
        if "choices" in meta:
            _choice(meta["env"], values[f.name], meta["choices"])
    settings = cls(**values)
    validate = getattr(settings, "validate", None)
    if validate:
        validate()
    return settings


def _names(cls: type) -> set[str]:
    return {f.name for f in fields(cls) if f.init}


def describe(cls: type) -> list[tuple[str, Any, str]]:
    """(variable, default, description) for every setting, for the README and --help."""
    return [(f.metadata["env"], f.default, f.metadata["doc"]) for f in fields(cls)]
