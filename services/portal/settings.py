"""Settings of the portal (on top of the shared ones)."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.config import ConfigError, Settings, setting

DEV_SECRET = "dev-portal-session-secret-change-me"


@dataclass(frozen=True)
class PortalSettings(Settings):
    service: str = setting("SERVICE_NAME", "portal", "service name")
    intake_url: str = setting("PORTAL_INTAKE_URL", "http://127.0.0.1:8001", "intake's base URL")
    scheduling_url: str = setting("PORTAL_SCHEDULING_URL", "http://127.0.0.1:8002",
                                  "scheduling's base URL")
    followup_url: str = setting("PORTAL_FOLLOWUP_URL", "http://127.0.0.1:8003",
                                "followup's base URL")
    oidc_issuer: str = setting("PORTAL_OIDC_ISSUER", "http://127.0.0.1:8180/realms/doithoai",
                               "OpenID Connect issuer (its /.well-known/openid-configuration)")
    oidc_browser_url: str = setting("PORTAL_OIDC_BROWSER_URL", "",
                                    "the provider's address as browsers reach it, when the "
                                    "portal reaches it at another (a container network); "
                                    "empty: the issuer's")
    oidc_client_id: str = setting("PORTAL_OIDC_CLIENT_ID", "doithoai-portal",
                                  "the portal's client at the provider")
    oidc_client_secret: str = setting("PORTAL_OIDC_CLIENT_SECRET", "doithoai-portal-dev-secret",
                                      "its secret (also used for the service account)")
    session_secret: str = setting("PORTAL_SECRET_KEY", DEV_SECRET,
                                  "key that signs session cookies and CSRF tokens")
    secure_cookies: bool = setting("PORTAL_SECURE_COOKIES", True,
                                   "session cookie only over HTTPS (browsers also allow "
                                   "127.0.0.1)")
    province_code: str = setting("PORTAL_PROVINCE_CODE", "37",
                                 "the province whose public pages the portal shows")
    agencies_file: str = setting("PORTAL_AGENCIES_FILE", "",
                                 "YAML of the province's agencies (id: name); empty: the "
                                 "platform's one list, services/common/agencies.yaml")
    timeout: float = setting("PORTAL_HTTP_TIMEOUT", 15.0, "seconds to wait for a service")

    def validate(self) -> None:
        super().validate()
        if self.env == "production" and self.session_secret == DEV_SECRET:
            raise ConfigError("PORTAL_SECRET_KEY: set a real secret in production")
