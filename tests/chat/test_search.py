"""Search (docs/search.md): the query's rules, the index kept in the message's transaction,
inbox scope, contacts and subjects, highlights, Chinese and Japanese. These tests run on SQLite
(FTS5) and, in CI's second run, on PostgreSQL (tsvector + GIN, websearch_to_tsquery)."""

import pytest
from django.db import transaction

from chat import privacy, search, services
from tests.factories import ContactFactory, InboxFactory, SupervisorFactory, agent_user, conversation_with

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("q", "code"),
    [
        ("", "search_empty"),
        ("   ", "search_empty"),
        ("x" * 201, "search_too_long"),
        ('"refund', "search_malformed"),
        ("-refund", "search_malformed"),
        ("or", "search_malformed"),
        ("!!! ???", "search_malformed"),
        ("ref\x07und", "search_malformed"),
    ],
)
def test_empty_too_long_or_malformed_searches_are_400(as_user, q, code):
    inbox = InboxFactory()
    response = as_user(agent_user(inbox)).get("/api/v1/search/", {"q": q})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code and response.json()["error"]["fields"]["q"]


@pytest.mark.parametrize(
    ("q", "tsquery", "fts5"),
    [
        ("Refund please", "'refund' & 'please'", '"refund" AND "please"'),
        ('"late parcel" -damaged', "('late' <-> 'parcel') & !'damaged'", '"late parcel" NOT "damaged"'),
        ("refund or return label", "('refund' | 'return') & 'label'", '("refund" OR "return") AND "label"'),
        ("退款", "'退款'", '"退款"'),
        ("我想退款", "('我想' <-> '想退' <-> '退款')", '"我想 想退 退款"'),
        ("order 配送", "'order' & '配送'", '"order" AND "配送"'),
        ("退", "'退':*", '"退" *'),
        ('"款 late"', "('款' <-> 'late')", '"款 late"'),
        ('"late 退"', "('late' <-> '退':*)", '"late 退" *'),
        ('NEAR("x") AND *', "'near' & 'x' & 'and'", '"near" AND "x" AND "and"'),
    ],
)
def test_the_query_is_read_the_same_way_by_both_indexes(q, tsquery, fts5):
    query = search.parse(q)
    assert search.tsquery_text(query) == tsquery
    assert search.fts5_match(query) == fts5


def test_cjk_runs_are_indexed_as_overlapping_pairs_then_their_last_character():
    assert search.index_words("你好，我想退款 order42です") == [
        *["你好", "好", "我想", "想退", "退款", "款"],
        *["order42", "です", "す"],
    ]
    assert search.index_words("a 配 b") == ["a", "配", "b"]


def hits(client, q, **params):
    response = client.get("/api/v1/search/", {"q": q, **params})
    assert response.status_code == 200, response.json()
    return response.json()


def marks(pieces) -> list[str]:
    return [text for text, is_match in pieces if is_match]


def test_messages_are_found_with_matches_marked_and_only_in_the_users_inboxes(as_user):
    # given two inboxes, each with a conversation about a refund
    shop, other = InboxFactory(), InboxFactory()
    agent = agent_user(shop)
    mine = conversation_with(shop, body="I would like a Refund for order 1234, it arrived broken")
    theirs = conversation_with(other, body="Refund for order 999")
    services.message_send(conversation=mine, by=agent, body="Checking the refund now", is_note=True)
    # when the agent searches
    found = hits(as_user(agent), "refund")
    # then only their inbox's messages come back, newest first, notes included, matches marked
    assert [m["conversation_id"] for m in found["messages"]] == [mine.pk, mine.pk]
    assert found["messages"][0]["is_note"] is True
    assert marks(found["messages"][1]["highlight"]) == ["Refund"]
    assert "".join(text for text, _ in found["messages"][1]["highlight"]).startswith("I would like a Refund")
    # and a supervisor sees both; an inbox filter narrows it; a foreign inbox is a 404
    supervisor = SupervisorFactory().user
    assert len(hits(as_user(supervisor), "refund")["messages"]) == 3
    assert [m["conversation_id"] for m in hits(as_user(supervisor), "refund", inbox=other.pk)["messages"]] == [
        theirs.pk
    ]
    assert as_user(agent).get("/api/v1/search/", {"q": "refund", "inbox": other.pk}).status_code == 404


def test_websearch_operators(as_user):
    inbox = InboxFactory()
    agent = agent_user(inbox)
    conversation_with(inbox, body="the parcel is late")
    conversation_with(inbox, body="the parcel is damaged and late")
    conversation_with(inbox, body="late delivery of a parcel")
    client = as_user(agent)
    bodies = lambda q: sorted("".join(t for t, _ in m["highlight"]) for m in hits(client, q)["messages"])  # noqa: E731
    assert bodies("parcel -damaged") == ["late delivery of a parcel", "the parcel is late"]
    assert bodies('"parcel is late"') == ["the parcel is late"]
    assert bodies("damaged or delivery") == ["late delivery of a parcel", "the parcel is damaged and late"]


def test_contacts_and_subjects_are_found_by_name_email_phone_attributes_and_subject(as_user):
    inbox, other = InboxFactory(), InboxFactory()
    agent = agent_user(inbox)
    maria = ContactFactory(name="María García", email="maria@example.com", phone="+34600111222")
    maria.attributes = {"plan": "Enterprise Gold", "city": "Sevilla"}
    maria.save()
    conversation = services.message_receive(
        inbox=inbox, contact=maria, channel="email", body="hola", subject="Invoice overdue for March"
    ).message.conversation
    stranger = ContactFactory(name="María Outsider")
    conversation_with(other, stranger)
    client = as_user(agent)
    # by name (not the other inbox's María), email, phone, an attribute's value
    assert [c["id"] for c in hits(client, "maría")["contacts"]] == [maria.pk]
    assert hits(client, "maria@example")["contacts"][0]["conversation_id"] == conversation.pk
    assert [c["id"] for c in hits(client, "600111")["contacts"]] == [maria.pk]
    gold = hits(client, "gold")["contacts"][0]["highlight"]
    assert marks(gold["attributes.plan"]) == ["Gold"]
    # and the subject, marked
    subjects = hits(client, "overdue")["conversations"]
    assert [c["id"] for c in subjects] == [conversation.pk]
    assert marks(subjects[0]["highlight"]) == ["overdue"]


def test_chinese_and_japanese_are_found_as_phrases_of_their_characters(as_user):
    inbox = InboxFactory()
    agent = agent_user(inbox)
    conversation_with(inbox, body="你好，我想申请退款，包裹坏了")
    conversation_with(inbox, body="退货和款项是两回事")  # 退 and 款 apart: not "退款"
    conversation_with(inbox, body="配送が遅れています。注文番号は42です")
    client = as_user(agent)
    chinese = hits(client, "退款")["messages"]
    assert len(chinese) == 1 and marks(chinese[0]["highlight"]) == ["退款"]
    japanese = hits(client, "配送")["messages"]
    assert len(japanese) == 1 and marks(japanese[0]["highlight"]) == ["配送"]
    assert len(hits(client, "注文番号 42")["messages"]) == 1


def test_every_substring_of_a_cjk_run_is_found_and_nothing_else(as_user):
    # given messages in Chinese, one with Latin words around a run
    inbox = InboxFactory()
    client = as_user(agent_user(inbox))
    conversation_with(inbox, body="你好，我想申请退款，包裹坏了")
    conversation_with(inbox, body="退货和款项是两回事")
    conversation_with(inbox, body="order 退款 late")
    texts = lambda q: sorted("".join(t for t, _ in m["highlight"]) for m in hits(client, q)["messages"])  # noqa: E731
    refund, apart, latin = "你好，我想申请退款，包裹坏了", "退货和款项是两回事", "order 退款 late"
    # then a run of any length is found where its characters are adjacent, in order
    assert texts("申请退款") == [refund]
    assert texts("请退") == [refund]
    assert texts("款项是两回") == [apart]
    assert texts("包裹坏了") == [refund]
    # one character anywhere in a run (its start, its middle, its end)
    assert texts("退") == sorted([refund, apart, latin])
    assert texts("项") == [apart]
    assert texts("了") == [refund]
    # not across punctuation, and not the characters out of order
    assert texts("款包") == []
    assert texts("款退") == []
    # phrases that mix Latin words and CJK runs keep their adjacency
    assert texts('"order 退款 late"') == [latin]
    assert texts('"order 退"') == [latin]
    assert texts('"款 late"') == [latin]
    assert texts('"退 late"') == []
    assert texts("退款 -order") == [refund]
    assert texts("退款 or 两回") == sorted([refund, apart, latin])


def test_reindexing_writes_every_indexed_message_again_and_leaves_erased_ones_out(as_user, committed):
    # given a message indexed, and an erased person's message
    inbox = InboxFactory()
    client = as_user(agent_user(inbox))
    kept = conversation_with(inbox, body="我想申请退款 kept")
    erased = conversation_with(inbox, body="退款 secret")
    with committed():
        privacy.contact_erase(contact=erased.contact, by=SupervisorFactory().user)
    # when the index is written again (the migration that changed how CJK is indexed does this)
    assert search.reindex_messages(batch=1) >= 1
    # then the kept message is found as before, the erased one still not
    assert [m["conversation_id"] for m in hits(client, "退款")["messages"]] == [kept.pk]
    assert hits(client, "secret")["messages"] == []


def test_the_index_is_written_in_the_messages_transaction(as_user):
    inbox = InboxFactory()
    agent = agent_user(inbox)
    conversation = conversation_with(inbox, body="first")
    # a message written and rolled back leaves nothing to find
    with pytest.raises(RuntimeError), transaction.atomic():
        services.message_send(conversation=conversation, by=agent, body="phantom words")
        assert search.matching_message_ids(search.parse("phantom"), inbox_ids=None, limit=5)  # found inside
        raise RuntimeError("roll back")
    assert search.matching_message_ids(search.parse("phantom"), inbox_ids=None, limit=5) == []
    # file names are found too
    services.message_send(
        conversation=conversation, by=agent, body="see attached", attachments=[{"name": "invoice-march.pdf"}]
    )
    assert len(hits(as_user(agent), "invoice")["messages"]) == 1


def test_an_erased_persons_words_are_found_no_more(as_user, committed):
    inbox = InboxFactory()
    agent = agent_user(inbox)
    conversation = conversation_with(inbox, body="my secret passport number 555")
    assert len(hits(as_user(agent), "passport")["messages"]) == 1
    with committed():
        privacy.contact_erase(contact=conversation.contact, by=SupervisorFactory().user)
    assert hits(as_user(agent), "passport")["messages"] == []


@pytest.mark.skipif("not __import__('django.db').db.connection.vendor == 'postgresql'")
@pytest.mark.parametrize(
    ("probe", "walk_max", "fetch_cost"),
    [
        (3, 2, 10**6),  # probe, walk on (bitmap dear), then the bitmap for what is older
        (3, 100, 10**6),  # probe, then walk to the end
        (3, 100, 0),  # probe, then the bitmap (cheaper)
        (100, 100, 1),  # the probe holds every message
    ],
)
def test_postgres_reads_newest_first_whichever_way_it_reads(monkeypatch, probe, walk_max, fetch_cost):
    # given matches spread over the messages (words, a phrase, CJK), in two inboxes
    monkeypatch.setattr(search, "PROBE_ROWS", probe)
    monkeypatch.setattr(search, "WALK_ROWS_MAX", walk_max)
    monkeypatch.setattr(search, "FETCH_COST", fetch_cost)
    inbox, other = InboxFactory(), InboxFactory()
    conversation = conversation_with(inbox, body="alpha beta one")
    elsewhere = conversation_with(other, body="alpha beta elsewhere")
    agent = agent_user(inbox)
    bodies = ["alpha two", "beta", "beta alpha three", "gamma 退款", "alpha beta four", "delta", "alpha 退款 five"]
    ids = [services.message_send(conversation=conversation, by=agent, body=body).message.pk for body in bodies]
    first = conversation.messages.order_by("seq").first().pk
    services.message_send(conversation=elsewhere, by=agent, body="alpha beta last")
    # when pages are asked for, then the newest come first, in the inbox asked, whichever way
    matches = lambda q, **kw: search.matching_message_ids(search.parse(q), **kw)  # noqa: E731
    alphas = [ids[6], ids[4], ids[2], ids[0], first]
    assert matches("alpha", inbox_ids=[inbox.pk], limit=3) == alphas[:3]
    assert matches("alpha", inbox_ids=[inbox.pk], limit=10) == alphas
    assert matches('"alpha beta"', inbox_ids=[inbox.pk], limit=10) == [ids[4], first]
    assert matches('"alpha beta"', inbox_ids=None, limit=10)[0] > ids[6]  # the other inbox's, newest
    assert matches("退款", inbox_ids=[inbox.pk], limit=10) == [ids[6], ids[3]]
    assert matches("alpha -beta", inbox_ids=[inbox.pk], limit=10) == [ids[6], ids[0]]
    assert matches("nowhere", inbox_ids=[inbox.pk], limit=10) == []
