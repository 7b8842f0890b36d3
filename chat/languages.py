"""Which language and time zone a person gets (pure, no writes): the languages cxhub ships, a locale's
normalisation, a contact's language with their inbox's default as the fallback, an agent's.

A locale from outside (a browser's `navigator.language`, an email's Content-Language or
Accept-Language, a website's session call, an agent's choice) is normalised to one of
`settings.LANGUAGES` ("zh-CN" → "zh-hans", "ru_RU.UTF-8" → "ru", "es-419" → "es"). A malformed or
unknown one normalises to "" and is logged: the caller keeps what it had, and the person is
spoken to in their inbox's default language. Nothing but a shipped code is ever stored.
"""

import logging
import re
import zoneinfo
from contextlib import contextmanager
from datetime import tzinfo

from django.conf import settings
from django.utils import timezone, translation

logger = logging.getLogger(__name__)

# BCP 47 as browsers send it (language, then subtags), after "_" → "-" and lowercasing.
LOCALE_PATTERN = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{1,8})*$")
MAX_LOCALE_CHARS = 35
MAX_TIME_ZONE_CHARS = 64


def shipped() -> list[str]:
    """The language codes cxhub speaks, the default first."""
    return [code for code, _ in settings.LANGUAGES]


def default_language() -> str:
    return settings.LANGUAGE_CODE


def _shown(raw) -> str:
    return repr(raw[:40] if isinstance(raw, str) else type(raw).__name__)


def normalise(raw, *, source: str = "", log: bool = True) -> str:
    """The shipped language for a locale tag ("zh-CN", "ru_RU.UTF-8", "es-419"); "" when it is
    empty, malformed or a language cxhub does not speak (the two latter are logged)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return ""
    tag = raw.strip().split(".")[0].split("@")[0].replace("_", "-").lower() if isinstance(raw, str) else ""
    if len(tag) > MAX_LOCALE_CHARS or not LOCALE_PATTERN.match(tag):  # POSIX: ru_RU.UTF-8@euro is fine
        if log:
            logger.info("malformed locale %s from %s: the default language applies", _shown(raw), source or "?")
        return ""
    try:
        return translation.get_supported_language_variant(tag)
    except LookupError:
        if log:
            logger.info("unsupported locale %s from %s: the default language applies", _shown(raw), source or "?")
        return ""


def from_header(value, *, source: str = "") -> str:
    """The most wanted language of a Content-Language ("ru, en") or Accept-Language
    ("zh-CN,zh;q=0.9,en;q=0.8") header that cxhub speaks; "" when none (logged as `normalise` does)."""
    if not isinstance(value, str) or not value.strip() or len(value) > 500:
        return normalise(value if isinstance(value, str) and len(value) <= 500 else object(), source=source)
    ranked = []
    for position, item in enumerate(value.split(",")):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                weight = 0.0
        if tag and tag != "*" and weight > 0:
            ranked.append((-weight, position, tag))
    for _, _, tag in sorted(ranked):
        code = normalise(tag, source=source)
        if code:
            return code
    return ""


def inbox_language(inbox) -> str:
    """The inbox's default language (for customers whose own is not known)."""
    code = getattr(inbox, "language", "") if inbox is not None else ""
    return code if code in shipped() else default_language()


def contact_language(contact, inbox=None) -> str:
    """The language to speak to this contact: theirs when known, else their inbox's default."""
    code = getattr(contact, "locale", "") if contact is not None else ""
    return code if code in shipped() else inbox_language(inbox)


def valid_time_zone(raw) -> str:
    """An IANA time zone name ("Europe/Moscow") as given, or "" when it is not one."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_TIME_ZONE_CHARS:
        return ""
    name = raw.strip()
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        logger.info("unknown time zone %s: the workspace's applies", _shown(raw))
        return ""
    return name


def time_zone_of(person) -> tzinfo:
    """A contact's or agent's own time zone where known, else the workspace's (settings.TIME_ZONE)."""
    name = valid_time_zone(getattr(person, "time_zone", "")) if person is not None else ""
    return zoneinfo.ZoneInfo(name) if name else timezone.get_default_timezone()


def is_right_to_left(code: str) -> bool:
    try:
        return bool(translation.get_language_info(code)["bidi"])
    except KeyError:
        return False


def direction(code: str) -> str:
    """ "rtl" or "ltr": the `dir` of a page or widget in this language."""
    return "rtl" if is_right_to_left(code) else "ltr"


@contextmanager
def speaking_to(contact, inbox=None):
    """Text, numbers, dates and times for this contact: their language and time zone (where known)."""
    with translation.override(contact_language(contact, inbox)), timezone.override(time_zone_of(contact)):
        yield


def agent_language(profile) -> str:
    """The console language an agent chose; "" when they chose none (the browser's applies)."""
    code = getattr(profile, "language", "") if profile is not None else ""
    return code if code in shipped() else ""
