"""The metrics API, the CSV export and the follow-up endpoints: filters, scoping, nulls and errors."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from chat import services
from feedback import metrics, pipeline
from feedback.models import FollowUp
from tests.factories import ContactFactory, InboxFactory, SupervisorFactory, TeamFactory, agent_user, conversation_with

from .metrics_helpers import answered

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(committed):
    """Two inboxes; alice works in both, bob only in the second; carol (another inbox) sees neither."""
    team = TeamFactory(name="Support", lead=None)
    first, second, other = InboxFactory(name="First", default_team=team), InboxFactory(name="Second"), InboxFactory()
    alice, bob, carol = agent_user(first, second), agent_user(second), agent_user(other)
    boss = SupervisorFactory().user
    done = []
    with committed():
        for inbox, agent, score in [(first, alice, 5), (first, alice, 1), (second, bob, 4), (second, alice, 3)]:
            conversation = conversation_with(inbox, ContactFactory())
            services.message_send(conversation=conversation, by=agent, body="Hi")
            services.conversation_resolve(conversation=conversation, by=agent)
            done.append((conversation, score))
    for conversation, score in done:
        answered(conversation, csat=score)
    return {"first": first, "second": second, "other": other, "alice": alice, "bob": bob, "carol": carol,
            "boss": boss, "team": team}  # fmt: skip


def today() -> str:
    return metrics.local_day(timezone.now(), pipeline.workspace_tz()).isoformat()


def test_summary_for_a_supervisor_has_every_figure_with_its_numerator_and_denominator(shop, as_user):
    response = as_user(shop["boss"]).get("/api/v1/metrics/summary/")
    assert response.status_code == 200
    body = response.json()
    assert set(body["metrics"]) == set(metrics.METRIC_NAMES)
    assert body["metrics"]["csat_percent"] == {"value": 50.0, "numerator": 2, "denominator": 4, "version": 1}
    first_response = body["metrics"]["first_response_seconds"]
    assert set(first_response) >= {"median", "p90", "mean", "count"} and first_response["count"] == 4
    # the previous period has no data: nulls, not zeros
    assert body["previous"]["metrics"]["csat_percent"]["value"] is None
    assert body["previous"]["metrics"]["first_response_seconds"]["median"] is None


def test_filters_take_several_values_ids_and_public_ids(shop, as_user):
    api = as_user(shop["boss"])
    by_id = api.get(f"/api/v1/metrics/summary/?inbox={shop['first'].pk}").json()["metrics"]["csat_percent"]
    assert (by_id["numerator"], by_id["denominator"]) == (1, 2)
    by_public = api.get(f"/api/v1/metrics/summary/?inbox={shop['first'].public_id}").json()["metrics"]
    assert by_public["csat_percent"] == by_id
    both = api.get(f"/api/v1/metrics/summary/?inbox={shop['first'].pk}&inbox={shop['second'].public_id}").json()
    assert both["metrics"]["csat_percent"]["denominator"] == 4
    agents = api.get(f"/api/v1/metrics/summary/?agent={shop['bob'].pk}&channel=web&channel=sms").json()
    assert agents["metrics"]["csat_percent"]["denominator"] == 1
    team = api.get(f"/api/v1/metrics/summary/?team={shop['team'].pk}").json()
    assert team["metrics"]["csat_percent"]["denominator"] == 2


@pytest.mark.parametrize(
    "query",
    [
        "inbox=999999",
        "inbox=no-such-public-id",
        "agent=999999",
        "agent=abc",
        "team=999999",
        "channel=fax",
        "from=2026-13-01",
        "from=yesterday",
        "from=2026-11-10&to=2026-11-01",
        "from=2020-01-01&to=2026-01-01",
    ],
)
def test_unknown_filter_values_are_400(shop, as_user, query):
    response = as_user(shop["boss"]).get(f"/api/v1/metrics/summary/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid", "period_too_long")


def test_an_agent_sees_only_their_own_figures(shop, as_user):
    api = as_user(shop["alice"])
    mine = api.get("/api/v1/metrics/summary/").json()["metrics"]["csat_percent"]
    assert (mine["numerator"], mine["denominator"]) == (1, 3)  # 5, 1 and 3: alice's answers only
    assert api.get(f"/api/v1/metrics/summary/?agent={shop['alice'].pk}").status_code == 200
    # another agent's figures, or an inbox that is not theirs: 404, as if it did not exist
    assert api.get(f"/api/v1/metrics/summary/?agent={shop['bob'].pk}").status_code == 404
    assert api.get(f"/api/v1/metrics/summary/?inbox={shop['other'].pk}").status_code == 404
    assert api.get(f"/api/v1/metrics/breakdown/?metric=csat_percent&by=agent&agent={shop['bob'].pk}").status_code == 404
    rows = api.get("/api/v1/metrics/breakdown/?metric=csat_percent&by=agent").json()["rows"]
    assert [row["key"] for row in rows] == [shop["alice"].pk]
    carol = as_user(shop["carol"]).get("/api/v1/metrics/summary/").json()["metrics"]
    assert carol["csat_percent"]["value"] is None


def test_timeseries_has_a_bucket_per_day_and_nulls_where_nothing_happened(shop, as_user):
    day_to = metrics.local_day(timezone.now(), pipeline.workspace_tz())
    day_from = day_to - timedelta(days=6)
    url = f"/api/v1/metrics/timeseries/?metric=csat_percent&from={day_from}&to={day_to}"
    body = as_user(shop["boss"]).get(url).json()
    assert [b["start"] for b in body["buckets"]] == [(day_from + timedelta(days=n)).isoformat() for n in range(7)]
    assert [b["figure"]["value"] for b in body["buckets"]] == [None] * 6 + [50.0]
    weekly = as_user(shop["boss"]).get(url + "&interval=week").json()["buckets"]
    assert weekly[0]["start"] == day_from.isoformat() and weekly[-1]["end"] == day_to.isoformat()
    assert sum(b["figure"]["denominator"] for b in weekly) == 4
    durations = as_user(shop["boss"]).get(url.replace("csat_percent", "first_response_seconds")).json()["buckets"]
    assert durations[0]["figure"]["median"] is None and durations[-1]["figure"]["count"] == 4


@pytest.mark.parametrize(
    "query",
    ["", "metric=nope", "metric=csat_percent&interval=month", "metric=csat_percent&interval=day&interval=week"],
)
def test_timeseries_bad_parameters_are_400(shop, as_user, query):
    assert as_user(shop["boss"]).get(f"/api/v1/metrics/timeseries/?{query}").status_code == 400


def test_breakdown_by_each_dimension(shop, as_user):
    api = as_user(shop["boss"])
    by_inbox = api.get("/api/v1/metrics/breakdown/?metric=csat_percent&by=inbox").json()["rows"]
    assert {row["label"]: row["figure"]["denominator"] for row in by_inbox} == {"First": 2, "Second": 2}
    by_channel = api.get("/api/v1/metrics/breakdown/?metric=csat_percent&by=channel").json()["rows"]
    assert [(row["key"], row["figure"]["denominator"]) for row in by_channel] == [("web", 4)]
    by_team = api.get("/api/v1/metrics/breakdown/?metric=first_response_seconds&by=team").json()["rows"]
    assert sum(row["figure"]["count"] for row in by_team) == 4
    assert api.get("/api/v1/metrics/breakdown/?metric=csat_percent&by=planet").status_code == 400


def test_charts_have_distributions_and_joins(shop, as_user):
    body = as_user(shop["boss"]).get("/api/v1/metrics/charts/").json()
    assert body["distributions"]["csat"] == {"1": 1, "2": 0, "3": 1, "4": 1, "5": 1}
    assert body["csat_by_first_response"][0]["label"] == "< 1 min"
    assert body["csat_by_first_response"][0]["figure"]["denominator"] == 4
    assert body["ces_by_channel_switches"][0]["figure"]["value"] is None


def test_csv_export_streams_one_row_per_conversation(shop, as_user):
    response = as_user(shop["boss"]).get("/api/v1/exports/conversations.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 4
    assert sorted(r["csat"] for r in rows) == ["1", "3", "4", "5"]
    # an agent exports their own conversations only
    mine = as_user(shop["bob"]).get("/api/v1/exports/conversations.csv")
    assert len(list(csv.DictReader(io.StringIO(b"".join(mine.streaming_content).decode())))) == 1


def test_csv_export_period_limit_is_a_400_that_says_the_limit(shop, as_user, settings):
    settings.METRICS_EXPORT_MAX_DAYS = 31
    response = as_user(shop["boss"]).get("/api/v1/exports/conversations.csv?from=2026-01-01&to=2026-03-01")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "period_too_long"
    assert "31 days" in response.json()["error"]["detail"]


def test_follow_ups_list_assign_close(shop, as_user):
    # given the detractor answer (csat 1) in the first inbox
    follow_up = FollowUp.objects.get()
    boss, alice, bob = shop["boss"], shop["alice"], shop["bob"]
    listed = as_user(boss).get("/api/v1/followups/?status=open").json()["results"]
    assert [f["id"] for f in listed] == [follow_up.pk]
    assert listed[0]["contact"]["at_risk"] is True and listed[0]["response"]["csat"] == 1
    # bob is not in that inbox: he does not see it, and cannot be given it
    assert as_user(bob).get("/api/v1/followups/").json()["results"] == []
    assert as_user(bob).post(f"/api/v1/followups/{follow_up.pk}/close/", {"note": "x"}).status_code == 404
    assigned = as_user(boss).post(f"/api/v1/followups/{follow_up.pk}/assign/", {"owner": bob.pk})
    assert assigned.status_code == 400
    assigned = as_user(boss).post(f"/api/v1/followups/{follow_up.pk}/assign/", {"owner": alice.pk})
    assert assigned.status_code == 200 and assigned.json()["owner"]["id"] == alice.pk
    # closing needs a note; then it is closed, once
    assert as_user(alice).post(f"/api/v1/followups/{follow_up.pk}/close/", {"note": " "}).status_code == 400
    closed = as_user(alice).post(f"/api/v1/followups/{follow_up.pk}/close/", {"note": "Called back, refunded."})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert as_user(alice).post(f"/api/v1/followups/{follow_up.pk}/close/", {"note": "again"}).status_code == 409
    assert as_user(boss).get("/api/v1/followups/?status=open").json()["results"] == []
    assert as_user(boss).get("/api/v1/followups/?status=weird").status_code == 400
    assert as_user(boss).get(f"/api/v1/followups/?inbox={shop['second'].pk}").json()["results"] == []


def test_console_pages_render_for_agents_and_supervisors(shop, client):
    client.force_login(shop["boss"])
    page = client.get("/console/dashboard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "vendor/chart.js/chart.umd.min.js" in html and 'id="dashboard-config"' in html
    assert "<script>" not in html  # no inline code: JSON only, through json_script
    # a bad filter value is said on the page, which still carries its figures' config without it
    bad = client.get("/console/dashboard/?channel=fax&channel=web")
    assert bad.status_code == 400
    assert "Channel: Not one of" in bad.content.decode() and 'id="dashboard-config"' in bad.content.decode()
    assert "channel" not in bad.context["page_config"]["query"]
    followups = client.get("/console/followups/")
    assert followups.status_code == 200 and "At risk" in followups.content.decode()
    follow_up = FollowUp.objects.get()
    closed = client.post(f"/console/followups/{follow_up.pk}/close/", {"note": "Called back"})
    assert closed.status_code == 302
    follow_up.refresh_from_db()
    assert follow_up.status == "closed" and follow_up.note == "Called back"
    client.force_login(shop["carol"])
    assert client.get("/console/dashboard/").status_code == 200
    assert client.post(f"/console/followups/{follow_up.pk}/close/", {"note": "x"}).status_code == 404
    assert client.get(f"/console/dashboard/?agent={shop['alice'].pk}").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/metrics/summary/?inbox=%C2%B3",  # "³": a digit to str.isdigit(), not to int()
        "/api/v1/metrics/breakdown/?metric=nps&by=team&team=%C2%B3",
        "/api/v1/exports/conversations.csv?team=%D9%A3&inbox=1",  # "٣"
        "/api/v1/followups/?team=%C2%B3",
        "/api/v1/surveys/responses/?agent=%C2%B3",
    ],
)
def test_unicode_digits_in_id_filters_are_400_not_500(shop, as_user, url):
    # found by `make fuzz` (1,000 cases per operation)
    response = as_user(shop["boss"]).get(url)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
