"""Full-text search (docs/search.md): the query's rules, the index of message bodies, highlights.

The index is the database's own, written by the services in the message's transaction
(`index_message`): PostgreSQL keeps a `tsvector` in `Message.search_vector` (GIN index) and is
asked with `to_tsquery`; SQLite (the embedded default) keeps an FTS5 table, `chat_message_fts`,
asked with a MATCH expression. Both hold the same words (`index_words`) and are asked for the same
words (`_phrase_tokens`), with no stemming ('simple' / unicode61), so every language is found as
written.

Languages without spaces (Chinese, Japanese; Korean too) are indexed as overlapping character
pairs, each run followed by its last character; a run of such characters in a query is a phrase
of its pairs: "退款" is one index word and finds "我要退款", not "退…款" apart.
"""

import json
import re
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection, transaction
from django.db.models import Q, Value
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
CJK_RUN_SPLIT = re.compile(f"({CJK_RUN.pattern})")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
WORD = re.compile(r"\w+", re.UNICODE)


def index_words(text: str) -> list[str]:
    """The words of a text as the index holds them (`indexed_text`, `_phrase_tokens`): each run of
    CJK characters as its overlapping pairs followed by its last character ("我想退款" → 我想 想退
    退款 款), so a two-character search is one index word and every character starts one."""
    words: list[str] = []
    for word in WORD.findall(text or ""):
        for part in CJK_RUN_SPLIT.split(word):
            if not part:
                continue
            if CJK.match(part):
                words.extend(part[i : i + 2] for i in range(len(part) - 1))
                words.append(part[-1])
            else:
                words.append(part)
    return words


def segment(text: str) -> str:
    """The text with each CJK character a word of its own (how a query's words are read)."""
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


def _phrase_tokens(words: tuple[str, ...]) -> list[tuple[str, bool]]:
    """A term's words as the index's words (`index_words`), in order, each with "is a prefix".

    A run of CJK characters becomes its overlapping pairs; then its last character alone when the
    phrase goes on after the run (the index has it there only where a run ends), or, for a run of
    one character that ends the phrase, that character as a prefix (every character of a text
    starts an index word: a pair, or itself at a run's end)."""
    tokens: list[tuple[str, bool]] = []
    at = 0
    while at < len(words):
        if not CJK.fullmatch(words[at]):
            tokens.append((words[at], False))
            at += 1
            continue
        end = at
        while end < len(words) and CJK.fullmatch(words[end]):
            end += 1
        run = "".join(words[at:end])
        tokens.extend((run[i : i + 2], False) for i in range(len(run) - 1))
        if end < len(words):
            tokens.append((run[-1], False))
        elif len(run) == 1:
            tokens.append((run, True))
        at = end
    return tokens


def _grouped(query: Query) -> tuple[list[list[Term]], list[Term]]:
    """The terms as the index reads them: groups of alternatives ("a or b"), all groups required;
    and the negated terms, none of which may match."""
    groups: list[list[Term]] = []
    negatives: list[Term] = []
    for term in query.terms:
        if term.negated:
            negatives.append(term)
        elif term.or_before and groups:
            groups[-1].append(term)
        else:
            groups.append([term])
    return groups, negatives


def tsquery_text(query: Query, *, relaxed: bool = False) -> str:
    """The query for PostgreSQL's to_tsquery: every index word quoted (no syntax of the user's
    gets through: words are word characters only), phrases with <->, `(a | b) & c & !d`.
    `relaxed`: what the GIN index answers without looking at positions (a phrase's words in any
    order, no exclusions): every match is among its rows (the candidates)."""

    def phrase(term: Term) -> str:
        tokens = [f"'{token}'" + (":*" if prefix else "") for token, prefix in _phrase_tokens(term.words)]
        return tokens[0] if len(tokens) == 1 else "(" + (" & " if relaxed else " <-> ").join(tokens) + ")"

    groups, negatives = _grouped(query)
    if relaxed:
        negatives = []
    parts = [" | ".join(map(phrase, group)) for group in groups]
    parts = [f"({part})" if len(group) > 1 else part for part, group in zip(parts, groups, strict=True)]
    return " & ".join(parts + [f"!{phrase(term)}" for term in negatives])


def fts5_match(query: Query) -> str:
    """The same query as an FTS5 MATCH expression (every word quoted: no FTS5 syntax gets through)."""

    def phrase(term: Term) -> str:
        tokens = _phrase_tokens(term.words)
        quoted = '"' + " ".join(token.replace('"', '""') for token, _ in tokens) + '"'
        return quoted + (" *" if tokens[-1][1] else "")

    groups, negatives = _grouped(query)
    expression = " AND ".join(
        f"({' OR '.join(map(phrase, group))})" if len(group) > 1 else phrase(group[0]) for group in groups
    )
    for term in negatives:
        expression += f" NOT {phrase(term)}"
    return expression


def postgres_query(query: Query) -> SearchQuery:
    return SearchQuery(tsquery_text(query), search_type="raw", config=CONFIG)


# --- the index (written by the services, in the message's transaction) --------------------


def indexed_text(message: Message) -> str:
    """What a message is found by: the words of its body and of its files' names (`index_words`)."""
    return _indexed_text(message.body, message.attachments)


def _indexed_text(body: str | None, attachments) -> str:
    names = [entry.get("name", "") for entry in attachments or [] if isinstance(entry, dict)]
    # Words only, as the query is read (`parse`): PostgreSQL's parser would otherwise keep
    # "invoice-march.pdf" or an address as tokens of their own that no typed word matches.
    return " ".join(index_words(" ".join([body or "", *names])))


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


def reindex_messages(*, batch: int = 5000, unindexed: bool = False) -> int:
    """Write again the index of every message that has one (a migration that changes what is
    indexed, the bench's seed): a batch of messages at a time, each batch one set-based statement
    and its own transaction. Messages taken out of the index (an erasure) stay out, unless
    `unindexed` (a seed that wrote messages without their index). Returns how many were written."""
    postgres = uses_postgres()
    select = "SELECT id, body, attachments FROM chat_message WHERE id > %s"
    if not unindexed:
        select += " AND search_vector IS NOT NULL" if postgres else f" AND id IN (SELECT rowid FROM {FTS_TABLE})"
    written, after = 0, 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"{select} ORDER BY id LIMIT %s", [after, batch])
            rows = cursor.fetchall()
            if not rows:
                return written
            ids = [row[0] for row in rows]
            texts = [
                _indexed_text(body, json.loads(files) if isinstance(files, str) else files) for _, body, files in rows
            ]
            if postgres:
                cursor.execute(
                    f"UPDATE chat_message m SET search_vector = to_tsvector('{CONFIG}', v.text) "
                    "FROM unnest(%s::bigint[], %s::text[]) AS v(id, text) WHERE m.id = v.id",
                    [ids, texts],
                )
            else:
                cursor.executemany(
                    f"INSERT OR REPLACE INTO {FTS_TABLE}(rowid, body) VALUES (%s, %s)",
                    list(zip(ids, texts, strict=True)),
                )
        written, after = written + len(rows), ids[-1]


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


PROBE_ROWS = 2_000
WALK_ROWS_MAX = 40_000
FETCH_COST = 8  # a row read through the GIN bitmap costs about as much as this many walked rows


def _postgres_matches(query: Query, *, inbox_ids: list[int] | None, limit: int) -> list[int]:
    """Newest first, at a cost bounded whatever the words' frequency (docs/search.md).

    Two ways to read: *walking* the primary key backwards checks every row and stops once the
    page is full (cheap for a common word, the whole table for a rare one); the *GIN bitmap*
    reads only the candidate rows (exact for words; a phrase's rows with all its words are then
    checked for positions), all of them before sorting (cheap for a rare word, a third of the
    table for a common one or a phrase of two common words). PostgreSQL's estimate cannot tell
    them apart well (a phrase counts as its words, correlations are unknown), so the read asks
    the data: it walks the newest PROBE_ROWS messages, counting the matches in scope and the
    candidates, and from those densities picks the cheaper way for the rest: walking on (at
    most WALK_ROWS_MAX rows, then the bitmap for what is older), or the bitmap.
    """
    full, candidates = tsquery_text(query), tsquery_text(query, relaxed=True)
    scope, scope_args = "", []
    if inbox_ids is not None:
        scope = f" AND inbox_id IN ({', '.join(['%s'] * len(inbox_ids))})"
        scope_args = list(inbox_ids)
    # COALESCE(...) keeps the planner on the primary key (the GIN index cannot serve it).
    walked = f"COALESCE(search_vector, ''::tsvector) @@ to_tsquery('{CONFIG}', %s)"
    with connection.cursor() as cursor:
        # the probe: among the newest rows, how many are candidates, how many match in scope and
        # the newest of those (one round trip, with the newest id, which bounds what follows)
        cursor.execute(
            "WITH top AS (SELECT COALESCE(MAX(id), 0) AS newest FROM chat_message) "
            "SELECT top.newest, COUNT(m.id), COUNT(m.id) FILTER (WHERE m.hit), "
            "(ARRAY_AGG(m.id ORDER BY m.id DESC) FILTER (WHERE m.hit))[1:%s] "
            f"FROM top LEFT JOIN LATERAL (SELECT id, {walked}{scope} AS hit FROM chat_message "
            f"WHERE id > top.newest - %s AND {walked}) m ON TRUE GROUP BY top.newest",
            [limit, full, *scope_args, PROBE_ROWS, candidates],
        )
        newest, candidate_count, hit_count, found = cursor.fetchone()
        found, floor = list(found or []), newest - PROBE_ROWS
        if len(found) >= limit or floor <= 0:
            return found
        need = limit - len(found)
        walk_rows = need * PROBE_ROWS / max(hit_count, 0.5)
        bitmap_rows = candidate_count * floor / PROBE_ROWS * FETCH_COST
        if walk_rows <= min(bitmap_rows, WALK_ROWS_MAX):
            bottom = max(floor - WALK_ROWS_MAX, 0)
            cursor.execute(
                f"SELECT id FROM chat_message WHERE id <= %s AND id > %s AND {walked}{scope} ORDER BY id DESC LIMIT %s",
                [floor, bottom, full, *scope_args, need],
            )
            found += [row[0] for row in cursor.fetchall()]
            floor, need = bottom, limit - len(found)
        if need > 0 and floor > 0:
            # `id + 0` keeps the planner off the primary key: the GIN bitmap, then a sort
            cursor.execute(
                f"SELECT id FROM chat_message WHERE search_vector @@ to_tsquery('{CONFIG}', %s) AND id <= %s{scope} "
                "ORDER BY id + 0 DESC LIMIT %s",
                [full, floor, *scope_args, need],
            )
            found += [row[0] for row in cursor.fetchall()]
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
        needle = _needle(term)
        # A needle without case and too short for a trigram index (二字, "42") is compared as it is:
        # no index serves it either way, and UPPER() of every field costs more than the scan.
        lookup = "contains" if len(needle) < 3 and needle.upper() == needle.lower() else "icontains"
        found = Q()
        for field in fields:
            found |= Q(**{f"{field}__{lookup}": needle})
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
