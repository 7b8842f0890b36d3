"""Full-text search (docs/search.md): the query's rules, the index of message bodies, highlights.

The index is the database's own, written by the services in the message's transaction
(`index_message`): PostgreSQL keeps a `tsvector` in `Message.search_vector` (GIN index) and is
asked with `websearch_to_tsquery`; SQLite (the embedded default) keeps an FTS5 table,
`chat_message_fts`, asked with a MATCH expression built here from the same parsed query.
Both use no stemming ('simple' / unicode61), so every language is found as written.

Languages without spaces (Chinese, Japanese; Korean too) are indexed one character per token
(`segment`), and a run of such characters in a query becomes a phrase of those characters:
"退款" finds "我要退款" and not "退…款" apart.
"""

import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import F, Q, Value
from django.utils.translation import gettext as _

from chat.errors import ErrorCode
from cxhub.errors import InvalidInput

from .models import Message

QUERY_MAX_CHARS = 200
FTS_TABLE = "chat_message_fts"
CONFIG = "simple"

# Han, Hiragana, Katakana, Hangul, CJK punctuation-free ranges: scripts written without spaces.
CJK = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u31f0-\u31ff\uff66-\uff9f\U00020000-\U0002fa1f]"
)
CJK_RUN = re.compile(CJK.pattern + "+")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
WORD = re.compile(r"\w+", re.UNICODE)


def segment(text: str) -> str:
    """The text as the index sees it: each CJK character a word of its own."""
    return CJK.sub(lambda match: f" {match.group(0)} ", text or "")


def uses_postgres() -> bool:
    return connection.vendor == "postgresql"


# --- the query ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    words: tuple[str, ...]  # one word, or a phrase (quoted, or a CJK run)
    negated: bool = False
    or_before: bool = False  # "a or b": this term is an alternative to the one before


@dataclass(frozen=True)
class Query:
    text: str  # as typed (trimmed)
    terms: tuple[Term, ...]

    @property
    def positive(self) -> list[Term]:
        return [term for term in self.terms if not term.negated]


def _refuse(code: str, detail: str) -> InvalidInput:
    return InvalidInput(detail, code=code, fields={"q": [detail]})


def _words(text: str) -> tuple[str, ...]:
    """Index words of a piece of query: word characters, CJK characters one by one."""
    return tuple(word.lower() for word in WORD.findall(segment(text)))


def parse(raw) -> Query:
    """websearch syntax (words, "phrases", -not, or) as the index will read it; 400 when empty,
    too long or malformed (an unclosed quote, control characters, nothing to look for)."""
    text = (raw or "").strip() if isinstance(raw, str) else ""
    if not text:
        raise _refuse(ErrorCode.SEARCH_EMPTY, _("Type something to search for."))
    if len(text) > QUERY_MAX_CHARS:
        raise _refuse(
            ErrorCode.SEARCH_TOO_LONG,
            _("A search is at most %(limit)s characters long.") % {"limit": QUERY_MAX_CHARS},
        )
    if CONTROL.search(text):
        raise _refuse(ErrorCode.SEARCH_MALFORMED, _("The search contains characters that cannot be searched."))
    if text.count('"') % 2:
        raise _refuse(ErrorCode.SEARCH_MALFORMED, _("A quotation mark is not closed."))
    terms: list[Term] = []
    pending_or = False
    for quoted, bare in re.findall(r'(-?"[^"]*")|(\S+)', text):
        piece = quoted or bare
        negated = piece.startswith("-") and len(piece) > 1
        body = piece[1:] if negated else piece
        if not quoted and body.lower() == "or" and not negated:
            pending_or = bool(terms)
            continue
        if quoted:
            words = _words(body.strip('"'))
            chunks = [words] if words else []
        else:
            # bare words: a CJK run is a phrase of its characters; other words stand alone
            chunks = []
            for part in re.split(f"({CJK_RUN.pattern})", body):
                words = _words(part)
                if not words:
                    continue
                chunks.extend([words] if CJK.match(part) else [(word,) for word in words])
        for index, words in enumerate(chunks):
            terms.append(Term(words=words, negated=negated, or_before=pending_or and index == 0))
        pending_or = False
    query = Query(text=text, terms=tuple(terms))
    if not query.positive:
        raise _refuse(ErrorCode.SEARCH_MALFORMED, _("The search has no word to look for."))
    return query


def websearch_text(query: Query) -> str:
    """The query for PostgreSQL's websearch_to_tsquery (CJK runs made phrases of characters)."""
    parts = []
    for term in query.terms:
        phrase = " ".join(term.words)
        token = f'"{phrase}"' if len(term.words) > 1 else phrase
        parts.append(("or " if term.or_before else "") + ("-" if term.negated else "") + token)
    return " ".join(parts)


def fts5_match(query: Query) -> str:
    """The same query as an FTS5 MATCH expression (every word quoted: no FTS5 syntax gets through)."""
    groups: list[list[str]] = []
    negatives: list[str] = []
    for term in query.terms:
        token = '"' + " ".join(word.replace('"', '""') for word in term.words) + '"'
        if term.negated:
            negatives.append(token)
        elif term.or_before and groups:
            groups[-1].append(token)
        else:
            groups.append([token])
    expression = " AND ".join(f"({' OR '.join(group)})" if len(group) > 1 else group[0] for group in groups)
    for token in negatives:
        expression += f" NOT {token}"
    return expression


def postgres_query(query: Query) -> SearchQuery:
    return SearchQuery(websearch_text(query), search_type="websearch", config=CONFIG)


# --- the index (written by the services, in the message's transaction) --------------------


def indexed_text(message: Message) -> str:
    """What a message is found by: the words of its body and of its files' names, segmented."""
    names = [entry.get("name", "") for entry in message.attachments or [] if isinstance(entry, dict)]
    # Words only, as the query is read (`parse`): PostgreSQL's parser would otherwise keep
    # "invoice-march.pdf" or an address as tokens of their own that no typed word matches.
    return " ".join(WORD.findall(segment(" ".join([message.body or "", *names]))))


def index_message(message: Message) -> None:
    """Put a message's words in the index (call it in the transaction that wrote the message)."""
    index_messages([message])


def index_messages(messages: list[Message]) -> None:
    """Put several messages' words in the index in one statement (a group commit's messages)."""
    if not messages:
        return
    rows = [(message.pk, indexed_text(message)) for message in messages]
    if uses_postgres():
        if len(rows) == 1:
            pk, text = rows[0]
            Message.objects.filter(pk=pk).update(search_vector=SearchVector(Value(text), config=CONFIG))
            return
        values = ", ".join(["(%s::bigint, %s::text)"] * len(rows))
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE chat_message SET search_vector = to_tsvector(%s::regconfig, COALESCE(v.body, '')) "
                f"FROM (VALUES {values}) AS v (id, body) WHERE chat_message.id = v.id",
                [CONFIG, *(value for row in rows for value in row)],
            )
    elif connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT OR REPLACE INTO {FTS_TABLE}(rowid, body) VALUES (%s, %s)", rows)


def unindex_messages(message_ids: list[int]) -> None:
    """Forget messages' words (an erasure): they are found no more."""
    if not message_ids:
        return
    with connection.cursor() as cursor:
        for start in range(0, len(message_ids), 500):
            chunk = message_ids[start : start + 500]
            marks = ", ".join(["%s"] * len(chunk))
            if uses_postgres():
                cursor.execute(f"UPDATE chat_message SET search_vector = NULL WHERE id IN ({marks})", chunk)
            elif connection.vendor == "sqlite":
                cursor.execute(f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({marks})", chunk)


def matching_message_ids(query: Query, *, inbox_ids: list[int] | None, limit: int) -> list[int]:
    """Ids of matching messages, newest first, in these inboxes (None: every inbox)."""
    if inbox_ids is not None and not inbox_ids:
        return []
    scope, args = "", []
    if inbox_ids is not None:
        scope = f" AND m.inbox_id IN ({', '.join(['%s'] * len(inbox_ids))})"
        args = list(inbox_ids)
    if uses_postgres():
        return _postgres_matches(query, inbox_ids=inbox_ids, limit=limit)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m.id FROM {FTS_TABLE} f JOIN chat_message m ON m.id = f.rowid "
            f"WHERE {FTS_TABLE} MATCH %s{scope} ORDER BY m.id DESC LIMIT %s",
            [fts5_match(query), *args, limit],
        )
        return [row[0] for row in cursor.fetchall()]


RECENT_WINDOW = 20_000


def _postgres_matches(query: Query, *, inbox_ids: list[int] | None, limit: int) -> list[int]:
    """Newest first, in two reads whose cost is bounded whatever the words' frequency.

    One plan cannot serve both kinds of word: walking the primary key backwards stops after a
    few rows for a common word but reads the whole table for a rare one, and the GIN bitmap is
    instant for a rare word but visits a third of the table for a common one (PostgreSQL's
    estimate, not the word, picks between them). So: the newest RECENT_WINDOW messages first
    (a bounded range: common and mid-frequency words fill the page here), then, only if the page
    is not full, the older ones through the GIN index alone (`id + 0` keeps the planner off the
    primary key), where a word that was rare in the window is rare.
    """
    matching = Message.objects.filter(search_vector=postgres_query(query))
    if inbox_ids is not None:
        matching = matching.filter(inbox_id__in=inbox_ids)
    newest = Message.objects.order_by("-id").values_list("id", flat=True).first() or 0
    boundary = newest - RECENT_WINDOW
    found = list(matching.filter(id__gt=boundary).order_by("-id").values_list("id", flat=True)[:limit])
    if len(found) < limit and boundary > 0:
        older = matching.filter(id__lte=boundary).order_by((F("id") + 0).desc()).values_list("id", flat=True)
        found += list(older[: limit - len(found)])
    return found


# --- highlights -------------------------------------------------------------------------------

SNIPPET_CHARS = 160


def _needles(query: Query) -> list[str]:
    """What to mark in a text: each positive word, or a phrase's words as written (CJK joined)."""
    needles = []
    for term in query.positive:
        if all(CJK.fullmatch(word) for word in term.words):
            needles.append("".join(term.words))
        else:
            needles.extend(term.words)
    return sorted({needle for needle in needles if needle}, key=len, reverse=True)


def highlight(text: str, query: Query, *, snippet: bool = True) -> list[list]:
    """The text (or a snippet of it around the first match) as [[piece, is_match], …]: the
    client puts the matches in <mark> as text, so nothing in a text is ever markup."""
    text = text or ""
    needles = _needles(query)
    if not needles:
        return [[text[:SNIPPET_CHARS], False]]
    pattern = re.compile("|".join(re.escape(needle) for needle in needles), re.IGNORECASE)
    first = pattern.search(text)
    if snippet and len(text) > SNIPPET_CHARS:
        start = max(0, (first.start() if first else 0) - SNIPPET_CHARS // 3)
        end = min(len(text), start + SNIPPET_CHARS)
        prefix, suffix = ("…" if start else ""), ("…" if end < len(text) else "")
        text = prefix + text[start:end] + suffix
    pieces, at = [], 0
    for match in pattern.finditer(text):
        if match.start() > at:
            pieces.append([text[at : match.start()], False])
        pieces.append([match.group(0), True])
        at = match.end()
    if at < len(text):
        pieces.append([text[at:], False])
    return pieces


def _needle(term: Term) -> str:
    return "".join(term.words) if all(CJK.fullmatch(word) for word in term.words) else " ".join(term.words)


def q_for(query: Query, fields: list[str]) -> Q:
    """The query over short fields (contact names, addresses, attributes; subjects), matched as
    text in them: every term (or one of its alternatives) in some field, no negated one in any."""

    def anywhere(term: Term) -> Q:
        found = Q()
        for field in fields:
            found |= Q(**{f"{field}__icontains": _needle(term)})
        return found

    condition, group = Q(), None
    for term in query.terms:
        if term.negated:
            condition &= ~anywhere(term)
        elif term.or_before and group is not None:
            group |= anywhere(term)
        else:
            if group is not None:
                condition &= group
            group = anywhere(term)
    if group is not None:
        condition &= group
    return condition
