"""The scripts' own translation catalogues, served as JSON (no inline script anywhere).

`/i18n/widget/<language>.json`: the website widget's texts (in widget.js they are marked
`pgettext("widget", …)`), loaded cross-origin by the widget from the cxhub origin it came from.
`/i18n/console/<language>.json`: the console's and the dashboard's (marked `gettext(…)`).

Both come from the `djangojs` catalogues in locale/ (compiled by `make`), in the shape of
Django's JSONCatalog: {"language", "direction", "plural", "catalog"}, where `plural` is the
language's gettext plural expression (evaluated by chat/static/chat/i18n.js without `eval`) and a
plural entry is the list of its forms. `<language>` may be any locale tag ("zh-CN"): the answer is
in the shipped language it normalises to (chat.languages); one cxhub does not speak is a 404.
"""

import functools

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation.trans_real import DjangoTranslation
from django.views.decorators.http import require_GET
from django.views.i18n import JSONCatalog

from chat import languages

from .errors import json_error

WIDGET_CONTEXT = "widget"
CONTEXT_SEPARATOR = "\x04"
MAX_AGE_SECONDS = 3600


class _Catalog(JSONCatalog):
    def __init__(self, language: str):
        super().__init__()
        localedirs = [str(path) for path in settings.LOCALE_PATHS]
        self.translation = DjangoTranslation(language, domain="djangojs", localedirs=localedirs)


@functools.cache
def catalog_for(bundle: str, language: str) -> dict:
    """The JSON body of one bundle ("widget" or "console") in one shipped language (read once per process)."""
    catalogue = _Catalog(language)
    entries = {}
    prefix = WIDGET_CONTEXT + CONTEXT_SEPARATOR
    for key, value in catalogue.get_catalog().items():
        if bundle == "widget" and key.startswith(prefix):
            entries[key[len(prefix) :]] = value
        elif bundle == "console" and not key.startswith(prefix):
            entries[key] = value
    return {
        "language": language,
        "direction": languages.direction(language),
        "plural": catalogue.get_plural(),
        "catalog": entries,
    }


@require_GET
def script_catalog(request, bundle: str, language: str):
    code = languages.normalise(language, log=False)
    if bundle not in ("widget", "console") or not code:
        return json_error("not_found", _("No such catalogue."), 404)
    response = JsonResponse(catalog_for(bundle, code), json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = f"public, max-age={MAX_AGE_SECONDS}"
    # The widget runs on other websites and fetches its texts from here: public data, any origin.
    response["Access-Control-Allow-Origin"] = "*"
    return response
