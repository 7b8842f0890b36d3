"""Files people send (docs/attachments.md): checked against their inbox's limits by their content
(sniffed with `filetype`'s signature table, never trusted from the name), kept through Django's
storage API (`STORAGES["default"]`), previewed when they are images, and downloaded through signed
links that expire and are scoped to their audience (agents who see the conversation, or the
customer the message was for).

An attachment is one entry of `Message.attachments`:
`{"name", "content_type", "kind", "size", "path", "preview_path"?}` for a stored file,
`{"name", "content_type", "rejected": <reason>}` for one that was refused (email, SMS media), and
`{"source_url", "content_type", "pending": true}` for SMS media the worker has not fetched yet.
"""

import io
import logging
import posixpath
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass

import filetype
from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from chat.errors import ErrorCode
from cxhub.errors import InvalidInput, NotFound

from .models import ATTACHMENT_KINDS, Inbox

logger = logging.getLogger(__name__)

# The sniffed type → (kind, the file-name extensions that may carry it).
OLE_EXTENSIONS = {"doc", "dot", "xls", "xlt", "ppt", "pps"}  # one container format: any of them
ACCEPTED_TYPES: dict[str, tuple[str, set[str]]] = {
    "image/png": ("image", {"png"}),
    "image/jpeg": ("image", {"jpg", "jpeg", "jpe", "jfif"}),
    "image/gif": ("image", {"gif"}),
    "image/webp": ("image", {"webp"}),
    "application/pdf": ("pdf", {"pdf"}),
    "text/plain": ("text", {"txt", "text", "log", "md"}),
    "text/csv": ("text", {"csv"}),
    "application/msword": ("office", OLE_EXTENSIONS),
    "application/vnd.ms-excel": ("office", OLE_EXTENSIONS),
    "application/vnd.ms-powerpoint": ("office", OLE_EXTENSIONS),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("office", {"docx"}),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("office", {"xlsx"}),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("office", {"pptx"}),
    "application/vnd.oasis.opendocument.text": ("office", {"odt"}),
    "application/vnd.oasis.opendocument.spreadsheet": ("office", {"ods"}),
    "application/vnd.oasis.opendocument.presentation": ("office", {"odp"}),
}
# Text that is really markup a browser would run (SVG, HTML, XML) is never "text".
MARKUP_STARTS = (b"<?xml", b"<svg", b"<!doctype", b"<html", b"<script", b"<head", b"<body", b"<iframe")
SNIFF_BYTES = 8192
PREVIEW_SIZE = (480, 480)
IMAGE_PIXELS_MAX = 40_000_000  # larger images are refused rather than decoded (decompression bombs)
NAME_MAX_CHARS = 150

SIGNING_SALT = "cxhub.attachment"


class Audience:
    AGENT = "a"  # a signed-in user who sees the conversation (checked again at download)
    CUSTOMER = "c"  # the customer the message was for (notes never)
    PROVIDER = "p"  # the SMS provider fetching an MMS's files: like the customer's, with its real type


@dataclass(frozen=True)
class Upload:
    """A file as it arrived: the name its sender gave and its bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Checked:
    name: str
    data: bytes
    content_type: str
    kind: str
    preview: bytes | None


# --- checking ---------------------------------------------------------------------------


def display_name(raw: str) -> str:
    """The name people see: the last path part, without control characters, at most 150 characters.
    It is shown as text everywhere (never markup); storage uses its own safe name."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:NAME_MAX_CHARS]


def extension_of(name: str) -> str:
    return posixpath.splitext(name)[1].lower().lstrip(".")


def sniff(data: bytes, name: str = "") -> str | None:
    """The content's type from its first bytes (`filetype`'s signatures), text when it decodes as
    UTF-8 without NULs and is not markup; "image/svg+xml" or "text/html" for markup; None unknown."""
    head = data[:SNIFF_BYTES]
    guessed = filetype.guess(head)
    if guessed is not None:
        return guessed.mime
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith(MARKUP_STARTS) or b"<svg" in start[:1024]:
        return "image/svg+xml" if b"<svg" in start[:4096] else "text/html"
    if b"\x00" in head:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/csv" if extension_of(name) == "csv" else "text/plain"


def allowed_kinds(inbox: Inbox) -> list[str]:
    kinds = inbox.attachment_kinds if isinstance(inbox.attachment_kinds, list) else []
    return [kind for kind in ATTACHMENT_KINDS if kind in kinds]


def max_bytes(inbox: Inbox) -> int:
    return min(int(inbox.attachment_max_bytes or 0), settings.ATTACHMENT_MAX_BYTES_CEILING)


def limits_of(inbox: Inbox) -> dict:
    """What the widget and the console tell people before they pick a file."""
    kinds = allowed_kinds(inbox)
    extensions = sorted({ext for kind, exts in ACCEPTED_TYPES.values() if kind in kinds for ext in exts})
    return {"kinds": kinds, "max_bytes": max_bytes(inbox), "extensions": extensions}


def _refuse(code: str, detail: str, name: str) -> InvalidInput:
    logger.info("attachment %r refused: %s", name, code)
    return InvalidInput(detail, code=code, fields={"files": [detail]})


def _preview(data: bytes, name: str) -> bytes:
    """A PNG of at most PREVIEW_SIZE; an image Pillow cannot read is refused as a mismatch."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > IMAGE_PIXELS_MAX:
                raise _refuse(
                    ErrorCode.ATTACHMENT_TOO_LARGE,
                    _("%(name)s: the image is too large (%(width)s × %(height)s pixels).")
                    % {"name": name, "width": width, "height": height},
                    name,
                )
            image.thumbnail(PREVIEW_SIZE)
            out = io.BytesIO()
            image.convert("RGBA" if "A" in image.getbands() or image.mode == "P" else "RGB").save(out, "PNG")
            return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise _refuse(
            ErrorCode.ATTACHMENT_CONTENT_MISMATCH, _("%(name)s: this is not a readable image.") % {"name": name}, name
        ) from None


def check(inbox: Inbox, upload: Upload) -> Checked:
    """One file against the inbox's limits, or InvalidInput with the reason (nothing is stored)."""
    name = display_name(upload.name) or _("attachment")
    size, limit = len(upload.data), max_bytes(inbox)
    if size == 0:
        raise _refuse(ErrorCode.ATTACHMENT_EMPTY, _("%(name)s is empty.") % {"name": name}, name)
    if size > limit:
        raise _refuse(
            ErrorCode.ATTACHMENT_TOO_LARGE,
            _("%(name)s is too large: %(size)s bytes, at most %(limit)s here.")
            % {"name": name, "size": size, "limit": limit},
            name,
        )
    content_type = sniff(upload.data, name)
    accepted = ACCEPTED_TYPES.get(content_type or "")
    if accepted is None or accepted[0] not in allowed_kinds(inbox):
        raise _refuse(
            ErrorCode.ATTACHMENT_TYPE_REFUSED,
            _("%(name)s: files of this type (%(type)s) are not accepted here.")
            % {"name": name, "type": content_type or _("unknown")},
            name,
        )
    kind, extensions = accepted
    extension = extension_of(name)
    if not extension:
        name = f"{name}.{sorted(extensions)[0]}"
    elif extension not in extensions:
        raise _refuse(
            ErrorCode.ATTACHMENT_CONTENT_MISMATCH,
            _("%(name)s: the content is %(type)s, which does not match the name.")
            % {"name": name, "type": content_type},
            name,
        )
    preview = _preview(upload.data, name) if kind == "image" else None
    return Checked(name=name, data=upload.data, content_type=content_type, kind=kind, preview=preview)


# Why a file that came in by a channel (email, SMS media) was not kept, as its entry says.
REFUSAL_REASONS = {
    ErrorCode.ATTACHMENT_TOO_LARGE: "too_large",
    ErrorCode.ATTACHMENT_TYPE_REFUSED: "type_not_allowed",
    ErrorCode.ATTACHMENT_CONTENT_MISMATCH: "content_mismatch",
    ErrorCode.ATTACHMENT_EMPTY: "empty",
    ErrorCode.TOO_MANY_ATTACHMENTS: "too_many_attachments",
}


@dataclass(frozen=True)
class Refused:
    """A file that came in by a channel and was not kept: its listed entry and the reason in words."""

    entry: dict
    detail: str


def refused(name: str, content_type: str, error: InvalidInput) -> Refused:
    entry = {
        "name": display_name(name) or _("attachment"),
        "content_type": (content_type or "")[:100],
        "rejected": REFUSAL_REASONS.get(error.code, error.code),
    }
    return Refused(entry=entry, detail=error.detail)


def check_received(inbox: Inbox, upload: Upload, *, declared: str = "") -> Checked | Refused:
    """A file a customer sent by email or SMS, checked like an upload (by its content, against the
    inbox's kinds and size); a refused one is listed with its reason instead of raising, so the
    message still lands. `declared` is the type the sender's software claimed."""
    try:
        return check(inbox, upload)
    except InvalidInput as error:
        return refused(upload.name, declared, error)


def store_received(inbox: Inbox, items: list[Checked | Refused]) -> tuple[list[dict], list[str]]:
    """The entries of checked and refused files in their order, the checked ones stored; every
    path written (for removal when the message is not stored)."""
    stored, paths = store(inbox, [item for item in items if isinstance(item, Checked)])
    kept = iter(stored)
    return [next(kept) if isinstance(item, Checked) else item.entry for item in items], paths


def uploads_from(inbox: Inbox, files: list) -> list[Upload]:
    """Django's uploaded files as Uploads; one over the inbox's limit is refused before it is read."""
    limit = max_bytes(inbox)
    uploads = []
    for file in files[: settings.ATTACHMENTS_PER_MESSAGE + 1]:
        name = display_name(getattr(file, "name", "")) or _("attachment")
        if file.size > limit:
            raise _refuse(
                ErrorCode.ATTACHMENT_TOO_LARGE,
                _("%(name)s is too large: %(size)s bytes, at most %(limit)s here.")
                % {"name": name, "size": file.size, "limit": limit},
                name,
            )
        uploads.append(Upload(name=getattr(file, "name", "") or "", data=file.read(limit + 1)))
    return uploads


def check_all(inbox: Inbox, uploads: list[Upload]) -> list[Checked]:
    if len(uploads) > settings.ATTACHMENTS_PER_MESSAGE:
        detail = _("At most %(count)s files per message.") % {"count": settings.ATTACHMENTS_PER_MESSAGE}
        raise InvalidInput(detail, code=ErrorCode.TOO_MANY_ATTACHMENTS, fields={"files": [detail]})
    return [check(inbox, upload) for upload in uploads]


# --- keeping ----------------------------------------------------------------------------


def store(inbox: Inbox, checked: Iterable[Checked]) -> tuple[list[dict], list[str]]:
    """Save checked files through the default storage: their entries and every path written."""
    entries, paths = [], []
    try:
        for item in checked:
            folder = f"attachments/{inbox.pk}/{timezone.now():%Y/%m}/{secrets.token_urlsafe(16)}"
            safe = get_valid_filename(item.name) if get_valid_filename_ok(item.name) else f"file.{item.kind}"
            path = default_storage.save(f"{folder}/{safe}", ContentFile(item.data))
            paths.append(path)
            entry = {
                "name": item.name,
                "content_type": item.content_type,
                "kind": item.kind,
                "size": len(item.data),
                "path": path,
            }
            if item.preview is not None:
                entry["preview_path"] = default_storage.save(f"{folder}/preview.png", ContentFile(item.preview))
                paths.append(entry["preview_path"])
            entries.append(entry)
    except BaseException:
        delete(paths)
        raise
    return entries, paths


def get_valid_filename_ok(name: str) -> bool:
    try:
        return bool(get_valid_filename(name))
    except Exception:  # Django raises SuspiciousFileOperation for names like ".."
        return False


def delete(paths: Iterable[str]) -> None:
    for path in paths:
        with suppress(Exception):
            default_storage.delete(path)


def stored_paths(entries: list) -> list[str]:
    """Every file an attachments list keeps (originals and previews)."""
    paths = []
    for entry in entries or []:
        if isinstance(entry, dict):
            paths += [entry[key] for key in ("path", "preview_path") if isinstance(entry.get(key), str)]
    return paths


def with_files(inbox: Inbox, uploads: list[Upload], write: Callable[[list[dict]], object]):
    """Check every upload (nothing is stored unless all pass), store them, then `write(entries)`
    (a service, in its own transaction). Files are removed again when it fails or stored nothing
    new (a retried message: its `created` is false)."""
    checked = check_all(inbox, uploads)
    entries, paths = store(inbox, checked)
    try:
        result = write(entries)
    except BaseException:
        delete(paths)
        raise
    if getattr(result, "created", True) is False:
        delete(paths)
    return result


# --- links ------------------------------------------------------------------------------


def file_url(message_id: int, index: int, *, audience: str, preview: bool = False) -> str:
    token = signing.dumps([message_id, index, audience, int(preview)], salt=SIGNING_SALT, compress=False)
    return reverse("attachment-file", args=[token])


def read_link(token: str) -> tuple[int, int, str, bool]:
    """The (message id, index, audience, preview) a link was signed for; NotFound when it was not
    signed here or has expired (an expired link is not told apart: both are dead links)."""
    try:
        message_id, index, audience, preview = signing.loads(
            token, salt=SIGNING_SALT, max_age=settings.ATTACHMENT_URL_MAX_AGE
        )
    except (signing.BadSignature, ValueError, TypeError):
        raise NotFound(_("This link has expired or is not valid.")) from None
    return int(message_id), int(index), str(audience), bool(preview)


def listing(message_id: int, entries: list, *, audience: str) -> list[dict]:
    """The attachments of a message as people see them, with links signed for `audience`."""
    listed = []
    for index, entry in enumerate(entries or []):
        entry = entry if isinstance(entry, dict) else {}
        item = {key: entry[key] for key in ("name", "content_type", "kind", "size", "rejected") if key in entry}
        item.setdefault("name", "")
        item["pending"] = bool(entry.get("pending"))
        item["url"] = file_url(message_id, index, audience=audience) if entry.get("path") else None
        item["preview_url"] = (
            file_url(message_id, index, audience=audience, preview=True) if entry.get("preview_path") else None
        )
        listed.append(item)
    return listed


def relisted(message_id: int, listed: list[dict], *, audience: str) -> list[dict]:
    """A listing with its links signed again for another audience (the widget's copy of a
    message the consoles got)."""
    return [
        {
            **item,
            "url": file_url(message_id, index, audience=audience) if item.get("url") else None,
            "preview_url": file_url(message_id, index, audience=audience, preview=True)
            if item.get("preview_url")
            else None,
        }
        for index, item in enumerate(listed or [])
    ]
