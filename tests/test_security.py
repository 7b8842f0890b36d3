"""Accounts and browser hardening: login throttling, the Content-Security-Policy, cookies, secrets."""

import json
import os
import re
from pathlib import Path

import pytest
from django.test import RequestFactory, override_settings
from django.urls import NoReverseMatch, reverse

from tests.factories import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def admin_user_with_password(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


def _fail_login(client, url, username, times):
    for _ in range(times):
        response = client.post(url, {"username": username, "password": "wrong-password"})
    return response


# --- login throttling ---------------------------------------------------------------------


@pytest.mark.django_db
def test_five_failed_logins_lock_the_admin_login_with_a_friendly_page(client, admin_user_with_password, settings):
    # given the limit of 5 failures
    assert settings.AXES_FAILURE_LIMIT == 5
    # when someone fails four times, the form still answers normally
    response = _fail_login(client, "/admin/login/", "root", 4)
    assert response.status_code == 200
    # and the fifth failure locks the pair (username, address) out
    response = _fail_login(client, "/admin/login/", "root", 1)
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert int(response["Retry-After"]) == 15 * 60
    # then even the right password is refused while locked
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_successful_login_resets_the_count(client, admin_user_with_password):
    _fail_login(client, "/admin/login/", "root", 4)
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 302
    client.logout()
    # four more failures are again below the limit
    assert _fail_login(client, "/admin/login/", "root", 4).status_code == 200


@pytest.mark.django_db
def test_the_lockout_is_per_username_and_address(client, admin_user_with_password):
    UserFactory(username="other", is_staff=True)
    _fail_login(client, "/admin/login/", "root", 5)
    # another user from the same address still logs in
    response = client.post("/admin/login/", {"username": "other", "password": PASSWORD})
    assert response.status_code == 302
    # the same user from another address too
    response = client.post("/admin/login/", {"username": "root", "password": PASSWORD}, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 302


@pytest.mark.django_db
def test_the_console_login_is_throttled_too(client, admin_user_with_password):
    try:
        url = reverse("console-login")
    except NoReverseMatch:
        pytest.skip("the console login page is not there yet")
    assert url == "/console/login/"
    assert _fail_login(client, url, "root", 4).status_code == 200
    response = _fail_login(client, url, "root", 1)
    assert response.status_code == 429 and b"Too many failed logins" in response.content
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_the_lockout_answers_json_on_the_api():
    from axes.models import AccessAttempt

    from cxhub.accounts import lockout_response

    request = RequestFactory().post("/api/v1/auth/login", REMOTE_ADDR="198.51.100.7")
    AccessAttempt.objects.create(username="root", ip_address="198.51.100.7", failures_since_start=5)
    response = lockout_response(request, None, {"username": "root"})
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)["error"]
    assert body["code"] == "login_locked_out" and body["fields"]["retry_after_seconds"] == 900


@pytest.mark.django_db
def test_logins_without_a_request_are_not_throttled(admin_user_with_password, client):
    # Django's test client (and the shell) authenticate without a request: nothing to throttle
    assert client.login(username="root", password=PASSWORD)


# --- Content-Security-Policy ----------------------------------------------------------------

STRICT = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
}


def _policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    return dict(part.strip().split(" ", 1) for part in header.split(";") if part.strip())


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/healthz", "/admin/login/", "/api/docs/", "/api/schema/", "/api/v1/inboxes/", "/nope/"]
)
def test_every_page_carries_the_strict_policy(client, url):
    policy = _policy(client.get(url))
    for directive, value in STRICT.items():
        assert policy[directive] == value, directive
    connect = policy["connect-src"].split()
    assert connect[0] == "'self'"
    assert all(source.startswith(("ws://", "wss://")) for source in connect[1:])
    assert "'unsafe-inline'" not in " ".join(policy.values())
    assert "'unsafe-eval'" not in " ".join(policy.values())


@pytest.mark.django_db
def test_the_api_docs_have_no_inline_script(admin_client):
    page = admin_client.get("/api/docs/").content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    assert "<style" not in page and " on" not in re.sub(r"\s+", " ", page).replace(" one", "")
    script = admin_client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")


def _templates_with_inline_code() -> list[str]:
    found = []
    for template in ROOT.glob("*/templates/**/*.html"):
        if ".venv" in template.parts:
            continue
        text = template.read_text()
        inline_script = re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text)
        handler = re.search(r"\son[a-z]+\s*=", text)
        javascript_url = "javascript:" in text
        if inline_script or handler or javascript_url:
            found.append(str(template.relative_to(ROOT)))
    return found


def test_no_template_of_the_project_has_inline_script_or_event_handlers():
    assert _templates_with_inline_code() == []


# --- cookies, deploy check, secrets -----------------------------------------------------------


def test_session_and_csrf_cookies_are_locked_down(settings):
    assert settings.SESSION_COOKIE_HTTPONLY and settings.SESSION_COOKIE_SAMESITE == "Lax"
    assert settings.CSRF_COOKIE_SAMESITE == "Lax"
    assert settings.SESSION_COOKIE_AGE <= 24 * 3600
    assert settings.X_FRAME_OPTIONS == "DENY"


def test_with_debug_off_cookies_are_secure_and_https_is_enforced():
    from tests.test_project import manage

    code = (
        "from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0,"
        " [x for x in s.CONTENT_SECURITY_POLICY['DIRECTIVES']['connect-src'] if x.startswith('ws://')])"
    )
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        env={"DEBUG": "false", "SECRET_KEY": "s" * 60, "PUBLIC_URL": "https://support.example"},
    )
    assert result.stdout.strip() == "True True True True []", result.stderr


SECRET_PATTERNS = [
    r"SECRET_KEY\s*=\s*['\"](?!django-insecure-)[^'\"]{20,}",
    r"(?i)(auth_token|api_key|password)\s*=\s*['\"][A-Za-z0-9+/_-]{24,}['\"]",
    r"AC[0-9a-f]{32}",
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
]


def test_no_secret_is_written_in_the_source():
    offenders = []
    for path in ROOT.rglob("*.py"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & {".venv", "tests", "migrations", "node_modules", "staticfiles"}:
            continue
        text = path.read_text(errors="ignore")
        for pattern in SECRET_PATTERNS:
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert offenders == []


def test_secrets_come_from_the_environment(settings):
    # the embedded default key works only with DEBUG on (tests/test_project.py checks the refusal)
    if not os.environ.get("SECRET_KEY"):
        assert settings.SECRET_KEY.startswith("django-insecure-")


@override_settings(AXES_ENABLED=True)
def test_axes_and_csp_are_wired_in(settings):
    assert settings.AUTHENTICATION_BACKENDS[0] == "cxhub.accounts.LoginThrottleBackend"
    assert settings.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert "csp.middleware.CSPMiddleware" in settings.MIDDLEWARE
