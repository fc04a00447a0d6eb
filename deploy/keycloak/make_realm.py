"""Writes realm-doithoai.json, the Keycloak realm `make run` and the browser tests import:
the portal's client (authorization code + PKCE, and a service account for public pages),
the protocol mappers that put exactly the claims the services read (`sub`, `roles`,
`agency_id`, `province_code`, `ward_code`, audience `doithoai`) into access tokens, and
one demo user per role and scope. Run it after editing USERS; the JSON is committed."""

from __future__ import annotations

import json
from pathlib import Path

PASSWORD = "demo"  # local demo users only; a province's provider has its own users
ROLES = ("front_officer", "secretariat", "host", "agency_officer", "auditor", "admin")
SCOPE = ("province_code", "ward_code", "agency_id")

# username, display name, roles, scope
USERS = [
    ("vanphong.giavien", "Văn phòng UBND xã Gia Viễn", ["secretariat"],
     {"province_code": "37", "ward_code": "14464"}),
    ("chutich.giavien", "Chủ tịch UBND xã Gia Viễn", ["host"],
     {"province_code": "37", "ward_code": "14464"}),
    ("mttq.giavien", "Ủy ban MTTQ xã Gia Viễn", ["front_officer"],
     {"province_code": "37", "ward_code": "14464"}),
    ("vanphong.hoalu", "Văn phòng UBND phường Hoa Lư", ["secretariat"],
     {"province_code": "37", "ward_code": "14329"}),
    ("canbo.sonnmt", "Cán bộ Sở Nông nghiệp và Môi trường", ["agency_officer"],
     {"province_code": "37", "agency_id": "so-nnmt-37"}),
    ("lanhdao.ninhbinh", "Lãnh đạo tỉnh Ninh Bình", ["host"], {"province_code": "37"}),
    ("thanhtra.ninhbinh", "Thanh tra tỉnh Ninh Bình", ["auditor"], {"province_code": "37"}),
    ("quantri", "Quản trị hệ thống", ["admin"], {}),
]


VIETNAMESE = {
    "locale_vi": "Tiếng Việt",
    "loginAccountTitle": "Đăng nhập tài khoản cán bộ",
    "loginTitle": "Đăng nhập {0}",
    "loginTitleHtml": "{0}",
    "usernameOrEmail": "Tên đăng nhập hoặc thư điện tử",
    "username": "Tên đăng nhập",
    "password": "Mật khẩu",
    "doLogIn": "Đăng nhập",
    "rememberMe": "Ghi nhớ đăng nhập",
    "doForgotPassword": "Quên mật khẩu?",
    "showPassword": "Hiện mật khẩu",
    "hidePassword": "Ẩn mật khẩu",
    "invalidUserMessage": "Tên đăng nhập hoặc mật khẩu không đúng.",
    "accountDisabledMessage": "Tài khoản đã bị khóa; liên hệ quản trị hệ thống.",
    "loginTimeout": "Phiên đăng nhập đã hết hạn. Ông/Bà vui lòng đăng nhập lại.",
    "expiredActionMessage": "Thao tác đã hết hạn. Ông/Bà vui lòng đăng nhập lại.",
    "cookieNotFoundMessage": "Trình duyệt cần bật cookie để đăng nhập.",
    "logoutConfirmTitle": "Đăng xuất",
    "logoutConfirmHeader": "Ông/Bà có muốn đăng xuất?",
    "doLogout": "Đăng xuất",
    "backToApplication": "« Quay lại cổng đối thoại",
    "pageExpiredTitle": "Trang đã hết hạn",
    "errorTitle": "Có lỗi xảy ra",
}


def mapper(name: str, attribute: str) -> dict:
    return {"name": name, "protocol": "openid-connect",
            "protocolMapper": "oidc-usermodel-attribute-mapper",
            "config": {"user.attribute": attribute, "claim.name": attribute,
                       "jsonType.label": "String", "multivalued": "false",
                       "access.token.claim": "true", "id.token.claim": "true",
                       "userinfo.token.claim": "true", "introspection.token.claim": "true"}}


def profile() -> str:
    """Declarative user profile: the scope attributes are managed, editable by admins only."""
    admin_only = {"view": ["admin"], "edit": ["admin"]}
    everyone = {"view": ["admin", "user"], "edit": ["admin", "user"]}
    attributes = [
        {"name": "username", "displayName": "${username}", "permissions": everyone,
         "validations": {"length": {"min": 3, "max": 255},
                         "username-prohibited-characters": {},
                         "up-username-not-idn-homograph": {}}, "multivalued": False},
        {"name": "email", "displayName": "${email}", "permissions": everyone,
         "validations": {"email": {}, "length": {"max": 255}}, "multivalued": False},
        {"name": "firstName", "displayName": "${firstName}", "permissions": everyone,
         "validations": {"length": {"max": 255}}, "multivalued": False},
        {"name": "lastName", "displayName": "${lastName}", "permissions": everyone,
         "validations": {"length": {"max": 255}}, "multivalued": False},
    ] + [{"name": a, "displayName": a, "permissions": admin_only, "multivalued": False}
         for a in SCOPE]
    return json.dumps({"attributes": attributes, "groups": []}, ensure_ascii=False)


def user(username: str, name: str, roles: list[str], scope: dict[str, str]) -> dict:
    first, _, last = name.rpartition(" ")
    return {"username": username, "enabled": True, "emailVerified": True,
            "email": f"{username}@demo.doithoai.vn", "firstName": first or name,
            "lastName": last or name,
            "attributes": {k: [v] for k, v in scope.items()},
            "credentials": [{"type": "password", "value": PASSWORD, "temporary": False}],
            "realmRoles": roles}


def realm() -> dict:
    client = {
        "clientId": "doithoai-portal", "name": "Cổng đối thoại", "enabled": True,
        "protocol": "openid-connect", "publicClient": False,
        "secret": "doithoai-portal-dev-secret",  # local only; PORTAL_OIDC_CLIENT_SECRET
        "standardFlowEnabled": True, "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": True, "implicitFlowEnabled": False,
        # Trailing wildcards: the portal runs on 8000 and the tests on free ports.
        "redirectUris": ["http://127.0.0.1*", "http://localhost*"],
        "webOrigins": ["+"],
        "attributes": {"pkce.code.challenge.method": "S256",
                       "post.logout.redirect.uris": "+"},
        "fullScopeAllowed": True,
        "protocolMappers": [
            {"name": "roles", "protocol": "openid-connect",
             "protocolMapper": "oidc-usermodel-realm-role-mapper",
             "config": {"claim.name": "roles", "jsonType.label": "String",
                        "multivalued": "true", "access.token.claim": "true",
                        "id.token.claim": "true", "userinfo.token.claim": "true",
                        "introspection.token.claim": "true"}},
            {"name": "audience", "protocol": "openid-connect",
             "protocolMapper": "oidc-audience-mapper",
             "config": {"included.custom.audience": "doithoai",
                        "access.token.claim": "true", "id.token.claim": "false",
                        "introspection.token.claim": "true"}},
            *(mapper(a, a) for a in SCOPE),
        ],
    }
    service_account = {
        "username": "service-account-doithoai-portal", "enabled": True,
        "serviceAccountClientId": "doithoai-portal",
        # The portal reads public pages (upcoming dialogues, scoreboard) as a read-only
        # auditor of the province it serves.
        "attributes": {"province_code": ["37"]}, "realmRoles": ["auditor"],
    }
    return {
        "realm": "doithoai", "displayName": "Đối thoại — đăng nhập cán bộ", "enabled": True,
        "sslRequired": "external", "registrationAllowed": False,
        # Keycloak ships no Vietnamese messages: the sign-in screens' texts are given here.
        "internationalizationEnabled": True, "supportedLocales": ["vi"],
        "defaultLocale": "vi", "localizationTexts": {"vi": VIETNAMESE},
        "loginWithEmailAllowed": True,
        "accessTokenLifespan": 3600, "ssoSessionIdleTimeout": 28800,
        "ssoSessionMaxLifespan": 36000,
        "roles": {"realm": [{"name": r} for r in ROLES]},
        "clients": [client],
        "users": [user(*u) for u in USERS] + [service_account],
        "components": {"org.keycloak.userprofile.UserProfileProvider": [
            {"providerId": "declarative-user-profile", "subComponents": {},
             "config": {"kc.user.profile.config": [profile()]}}]},
    }


if __name__ == "__main__":
    path = Path(__file__).with_name("realm-doithoai.json")
    path.write_text(json.dumps(realm(), ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {path}")
