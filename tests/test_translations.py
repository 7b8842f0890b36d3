"""The catalogues of locale/ (docs/i18n.md): every text a customer can see is translated in every
shipped language, no such translation is fuzzy, every translation keeps its placeholders, and the
catalogues are up to date with the code, so a new customer-facing text without its translations
fails here (CI runs it in `make test`).

Customer-facing: the widget, the survey (questions, page, emails, SMS), the texts of the widget
session, its socket and the services it reaches, and the JSON errors. The console's and the
dashboard's texts are the agents'; they are translated too, but a missing one only falls back to
English and does not fail the build.
"""

import re
import shutil
import subprocess
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command

from chat import languages
from chat.management.commands.update_translations import catalogue_locales

LOCALE_DIR = Path(settings.LOCALE_PATHS[0])
DOMAINS = ("django", "djangojs")

# Source files (path prefixes) whose texts customers read.
CUSTOMER_FACING = (
    "chat/static/chat/widget.js",
    "chat/widget.py",
    "chat/api/widget.py",
    "chat/consumers",  # the widget's socket (a module today, maybe a package tomorrow)
    "chat/services.py",
    "chat/attachments.py",  # why a file was refused (the widget shows it)
    "chat/connectors/",
    "cxhub/errors.py",
    "feedback/questions.py",
    "feedback/services.py",
    "feedback/views.py",
    "feedback/templates/feedback/survey",  # the page, its base, the emails, the closed page
)

# %(name)s, %s, %d as Python and Django's JavaScript interpolate() fill them ("%%" is a literal %).
PLACEHOLDER = re.compile(r"%\(\w+\)[sdfi]|%[sdfi]")


def placeholders(text: str) -> set[str]:
    return set(PLACEHOLDER.findall(text.replace("%%", "")))


def is_customer_facing(entry: polib.POEntry) -> bool:
    return any(path.startswith(CUSTOMER_FACING) for path, _line in entry.occurrences)


def label(entry: polib.POEntry) -> str:
    return f"{entry.msgctxt}|{entry.msgid}" if entry.msgctxt else entry.msgid


def problems_of(po: polib.POFile) -> list[str]:
    """What is wrong in one catalogue: customer-facing entries missing or fuzzy; any entry whose
    translation loses or adds a placeholder."""
    found = []
    for entry in po:
        if entry.obsolete:
            continue
        forms = [entry.msgstr_plural[i] for i in sorted(entry.msgstr_plural)] if entry.msgid_plural else [entry.msgstr]
        translated = all(forms) and bool(forms)
        if is_customer_facing(entry):
            if not translated:
                found.append(f"missing: {label(entry)!r}")
            elif entry.fuzzy:
                found.append(f"fuzzy: {label(entry)!r}")
        if not any(forms):
            continue
        if entry.msgid_plural:
            wanted = placeholders(entry.msgid_plural) | placeholders(entry.msgid)
            for index, form in enumerate(forms):
                got = placeholders(form)
                # A form for one number (Arabic's "two", Russian's "one"…) may spell the number out.
                if not got <= wanted or len(wanted - got) > 1:
                    found.append(f"placeholders of form {index}: {label(entry)!r} has {sorted(got)}")
        elif placeholders(entry.msgstr) != placeholders(entry.msgid):
            found.append(f"placeholders: {label(entry)!r} has {sorted(placeholders(entry.msgstr))}")
    return found


def catalogue_paths(root: Path) -> list[Path]:
    return [root / locale / "LC_MESSAGES" / f"{domain}.po" for locale in catalogue_locales() for domain in DOMAINS]


# --- the checker itself: it catches what it must -----------------------------------------


def _catalogue(*entries: polib.POEntry) -> polib.POFile:
    po = polib.POFile()
    for entry in entries:
        po.append(entry)
    return po


def test_the_check_fails_on_an_untranslated_customer_facing_text():
    # given a new widget text nobody translated, and a new console text nobody translated
    po = _catalogue(
        polib.POEntry(
            msgctxt="widget", msgid="Brand new text", msgstr="", occurrences=[("chat/static/chat/widget.js", "")]
        ),
        polib.POEntry(msgid="Console only", msgstr="", occurrences=[("chat/static/console/app.js", "")]),
    )
    # when the catalogue is checked, then only the customer's text is a problem
    assert problems_of(po) == ["missing: 'widget|Brand new text'"]


def test_the_check_fails_on_a_fuzzy_customer_facing_translation():
    entry = polib.POEntry(
        msgid="This survey has expired.", msgstr="La encuesta caducó.", occurrences=[("feedback/services.py", "")]
    )
    entry.flags.append("fuzzy")
    assert problems_of(_catalogue(entry)) == ["fuzzy: 'This survey has expired.'"]


def test_the_check_fails_on_a_lost_or_renamed_placeholder_anywhere():
    po = _catalogue(
        polib.POEntry(
            msgid="Hello %(name)s,", msgstr="Hola, %(nombre)s:", occurrences=[("feedback/templates/feedback/x", "")]
        ),
        polib.POEntry(msgid="Snoozed until %(when)s", msgstr="Pospuesta", occurrences=[("chat/static/console/a", "")]),
        polib.POEntry(
            msgid="%(count)s selected",
            msgid_plural="%(count)s selected",
            msgstr_plural={0: "uno", 1: "%(count)s de %(total)s"},
            occurrences=[("chat/static/console/filters.js", "")],
        ),
    )
    assert problems_of(po) == [
        "placeholders: 'Hello %(name)s,' has ['%(nombre)s']",
        "placeholders: 'Snoozed until %(when)s' has []",
        "placeholders of form 1: '%(count)s selected' has ['%(count)s', '%(total)s']",
    ]


# --- the project's catalogues -------------------------------------------------------------


def test_every_shipped_language_has_its_catalogues():
    assert [code for code in languages.shipped() if code != settings.LANGUAGE_CODE] == ["zh-hans", "ru", "es", "ar"]
    for path in catalogue_paths(LOCALE_DIR):
        assert path.exists(), path


@pytest.mark.parametrize("path", catalogue_paths(LOCALE_DIR), ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_the_catalogue_is_complete_for_customers_and_keeps_placeholders(path):
    assert problems_of(polib.pofile(str(path))) == []


@pytest.mark.parametrize("path", catalogue_paths(LOCALE_DIR), ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_the_catalogue_compiles_with_gettext_format_checks(path):
    # msgfmt refuses a python-format translation whose placeholders differ from the original
    result = subprocess.run(["msgfmt", "--check-format", "-o", "/dev/null", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_the_catalogues_are_up_to_date_with_the_code(tmp_path):
    # given a copy of the catalogues, when the texts of the code are extracted into it again
    copy = tmp_path / "locale"
    shutil.copytree(LOCALE_DIR, copy, ignore=shutil.ignore_patterns("*.mo"))
    call_command("update_translations", locale_dir=str(copy), verbosity=0)
    # then no customer-facing text is new (untranslated) or changed (fuzzy) there
    problems = {f"{path.parts[-3]}/{path.name}": problems_of(polib.pofile(str(path))) for path in catalogue_paths(copy)}
    assert {name: found for name, found in problems.items() if found} == {}, (
        "Run `make translations` and translate the new texts in locale/ (docs/i18n.md)."
    )
