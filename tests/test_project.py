"""The project as a whole: settings from the environment, deploy checks, migrations, schema, admin."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from cxhub.settings import env_bool, env_int

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_env_helpers_refuse_bad_values(monkeypatch):
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured):
        env_bool("X_FLAG", False)
    monkeypatch.setenv("X_NUM", "many")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_NUM", 1)
    monkeypatch.setenv("X_NUM", "-3")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_NUM", 1)
    monkeypatch.setenv("X_FLAG", "off")
    assert env_bool("X_FLAG", True) is False


@pytest.mark.parametrize(
    "variables",
    [{"DATABASE_URL": "mysql://x/y"}, {"REDIS_URL": "http://nope"}, {"DEBUG": "false"}, {"DEBUG": "perhaps"}],
)
def test_bad_configuration_stops_the_start_with_a_clear_message(variables):
    result = manage("check", env=variables)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr


def test_the_asgi_server_pools_postgresql_connections_and_other_processes_do_not():
    # given a PostgreSQL URL (settings only: nothing connects)
    env = {**os.environ, "DATABASE_URL": "postgres://u@127.0.0.1:5432/x"}
    env.pop("DB_POOL", None)
    probe = (
        "import os, sys; {load}; from django.conf import settings; d = settings.DATABASES['default'];"
        "print(bool(d.get('OPTIONS', {{}}).get('pool')), d.get('CONN_MAX_AGE'), 'DB_POOL' in os.environ)"
    )
    # when the ASGI application loads, then its threads share a pool and children inherit nothing
    asgi = probe.format(load="import cxhub.asgi")
    out = subprocess.run([sys.executable, "-c", asgi], env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split() == ["True", "0", "False"], out.stderr
    # and a worker or a command keeps one connection per thread
    plain = probe.format(
        load="import django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'cxhub.settings'); django.setup()"
    )
    out = subprocess.run([sys.executable, "-c", plain], env=env, capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "60", "False"], out.stderr


def test_deploy_check_is_clean_with_debug_off_and_a_real_secret():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={"DEBUG": "false", "SECRET_KEY": "k" * 20 + "-a-long-random-secret-for-the-check-" + "z9" * 10},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_migrations_are_committed():
    result = manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout


def test_openapi_schema_validates_without_warnings():
    result = manage("spectacular", "--validate", "--fail-on-warn", "--file", os.devnull)
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_healthz_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["database"] == "ok"


@pytest.mark.django_db
def test_readyz_is_ready_with_the_database_and_503_while_draining(client, monkeypatch):
    from chat.consumers import draining

    # given a process whose database answers
    # then it is ready
    response = client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready", "database": "ok"})
    # when it is shutting down after SIGTERM
    monkeypatch.setitem(draining._state, "draining", True)
    # then load balancers are told to send it nothing new, and to come back
    response = client.get("/readyz")
    assert (response.status_code, response.json()["status"], response["Retry-After"]) == (503, "draining", "2")
    # while its liveness stays 200
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_prints_the_logins(capsys):
    from chat.models import Contact, Conversation, Inbox

    call_command("seed_demo")
    counts = (Inbox.objects.count(), Contact.objects.count(), Conversation.objects.count())
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert (Inbox.objects.count(), Contact.objects.count(), Conversation.objects.count()) == counts
    assert counts[0] == 3 and Conversation.objects.filter(status="resolved").exists()
    assert "supervisor" in out and "alice" in out and "cxhub-demo-2026" in out
    maria = Contact.objects.get(name="Maria Garcia")
    channels = set(maria.conversations.values_list("messages__channel", flat=True))
    assert {"web", "email", "sms"} <= channels


@pytest.mark.django_db
def test_admin_pages_open_for_every_model(admin_client):
    call_command("seed_demo")
    for name in ["inbox", "team", "agentprofile", "contact", "conversation", "conversationevent", "auditlog"]:
        response = admin_client.get(f"/admin/chat/{name}/")
        assert response.status_code == 200, name
        response = admin_client.get(f"/admin/chat/{name}/?q=a")
        assert response.status_code == 200, name
    from chat.models import Contact, Conversation

    assert admin_client.get(f"/admin/chat/contact/{Contact.objects.first().pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/chat/conversation/{Conversation.objects.first().pk}/change/").status_code == 200


@pytest.mark.django_db
def test_prometheus_metrics_need_staff_or_the_token(client, admin_client, settings):
    call_command("seed_demo")
    assert client.get("/metrics").status_code == 401
    body = admin_client.get("/metrics").content.decode()
    assert 'cxhub_conversations{status="open"}' in body and "cxhub_queue_length" in body
    settings.METRICS_TOKEN = "t0ken-for-scrapers"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken-for-scrapers").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


@pytest.mark.django_db
def test_the_demo_widget_accepts_the_server_s_own_origin_on_any_port(settings, capsys):
    from chat.models import Inbox

    # given `make run PORT=8100` (its PUBLIC_URL)
    settings.PUBLIC_URL = "http://127.0.0.1:8100"
    call_command("seed_demo")
    web = Inbox.objects.get(channel="web")
    assert web.allowed_origins == ["http://127.0.0.1:8100", "http://localhost:8100"]
    # when the demo is served again on another port, then that origin is allowed too
    settings.PUBLIC_URL = "http://localhost:8123"
    call_command("seed_demo")
    web.refresh_from_db()
    assert {"http://localhost:8123", "http://127.0.0.1:8123", "http://127.0.0.1:8100"} <= set(web.allowed_origins)
    assert "http://localhost:8123" in capsys.readouterr().out


@pytest.mark.django_db
def test_simulate_sms_finds_the_running_server_that_make_run_wrote_down(settings, tmp_path):
    from chat.management.commands.simulate_sms import running_server_url

    # given no PUBLIC_URL, and `make run PORT=8123` running (it writes .run/public-url)
    settings.BASE_DIR = tmp_path
    assert running_server_url() == settings.DEFAULT_PUBLIC_URL
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run" / "public-url").write_text("http://127.0.0.1:8123\n")
    # then the SMS goes there, signed for that URL
    assert running_server_url() == "http://127.0.0.1:8123"
    # and a configured PUBLIC_URL wins
    settings.PUBLIC_URL = "https://support.example.com"
    assert running_server_url() == "https://support.example.com"


@pytest.mark.django_db
def test_the_start_page_links_everything_and_shows_the_demo_logins_only_in_the_demo(client, settings):
    # given a fresh server without the demo, in development (DEBUG, as `make run`)
    settings.DEBUG = True
    page = client.get("/")
    body = page.content.decode()
    assert page.status_code == 200
    for link in ["/demo/", "/console/", "/console/dashboard/", "/admin/", "/api/docs/", "/healthz"]:
        assert f'href="{link}"' in body
    assert "cxhub-demo-2026" not in body
    # when the demo is seeded, then its logins are shown
    call_command("seed_demo")
    assert "cxhub-demo-2026" in client.get("/").content.decode()
    # but never with DEBUG off
    settings.DEBUG = False
    assert "cxhub-demo-2026" not in client.get("/").content.decode()


@pytest.mark.django_db(transaction=True)  # the seed's after-commit work (deliveries) runs
def test_the_metrics_demo_history_ends_before_now_and_sums_up_what_was_not_delivered(capsys, caplog):
    from django.db.models import Max
    from django.utils import timezone

    from chat.models import Conversation, Message
    from feedback.models import SurveyResponse

    call_command("seed_demo")
    call_command("seed_metrics_demo", days=3)
    now = timezone.now()
    latest = Conversation.objects.aggregate(
        resolved=Max("resolved_at"), activity=Max("last_activity_at"), opened=Max("opened_at")
    )
    assert all(value <= now for value in latest.values())
    assert Message.objects.aggregate(at=Max("created_at"))["at"] <= now
    assert SurveyResponse.objects.aggregate(at=Max("answered_at"))["at"] <= now
    out = capsys.readouterr().out
    assert "not delivered" not in caplog.text
    assert "replies of the history were not delivered: its demo customers have no address" in out
