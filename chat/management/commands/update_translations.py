"""Extract every translatable text into the catalogues: locale/<language>/LC_MESSAGES/django.po (Python
and templates) and djangojs.po (the widget's and the console's scripts), for each shipped language
but the default (English is the source). New texts arrive untranslated, changed ones fuzzy; then
translate them (docs/i18n.md) and `make test` checks that nothing customer-facing is missing.

`make translations` runs it. `--locale-dir` writes into another directory holding copies of the
catalogues (tests/test_translations.py: are the catalogues up to date with the code?).
"""

import os

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.core.management.commands import makemessages
from django.test import override_settings
from django.utils.translation import to_locale

from chat import languages

# Not application code: no texts for people there.
IGNORED = [
    ".*",
    "node_modules",
    "staticfiles",
    "media",
    "locale",
    "tests",
    "bench",
    "docs",
    "test-artifacts",
]
DOMAINS = {"django": ["html", "txt", "py"], "djangojs": ["js"]}


def catalogue_locales() -> list[str]:
    """The locale directory names of the translated languages ("zh_Hans", "ru", …)."""
    return [to_locale(code) for code in languages.shipped() if code != settings.LANGUAGE_CODE]


class _Extract(makemessages.Command):
    """Django's makemessages with every source file's texts going to one catalogue directory
    (makemessages would pick the project's own locale/ for the files under it)."""

    target = ""

    def find_files(self, root):
        files = super().find_files(root)
        for translatable in files:
            translatable.locale_dir = self.target
        return files


class Command(BaseCommand):
    help = "Extract the translatable texts into locale/<language>/LC_MESSAGES/{django,djangojs}.po."

    def add_arguments(self, parser):
        parser.add_argument("--locale-dir", default=str(settings.LOCALE_PATHS[0]), help="Where the catalogues are.")

    def handle(self, *args, locale_dir: str, **options):
        cwd = os.getcwd()
        os.chdir(settings.BASE_DIR)
        try:
            with override_settings(LOCALE_PATHS=[locale_dir]):
                for domain, extensions in DOMAINS.items():
                    extract = _Extract()
                    extract.target = os.path.abspath(locale_dir)
                    call_command(
                        extract,
                        locale=catalogue_locales(),
                        domain=domain,
                        extensions=extensions,
                        ignore_patterns=IGNORED,
                        add_location="file",
                        no_obsolete=True,
                        verbosity=options["verbosity"] - 1 if options["verbosity"] else 0,
                    )
        finally:
            os.chdir(cwd)
