"""The survey page /s/<token>/: GET shows the questions (a `?csat=5` link preselects, never records), POST records.

It works without JavaScript: a CSRF-protected form, no inline scripts or styles. It speaks the
customer's language (the contact's, else their inbox's default), right to left where that is
written so, with dates in the customer's time zone where known.
"""

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from chat import languages
from chat.selectors import is_number, root_contact
from cxhub.errors import Gone, InvalidInput, NotFound

from . import selectors, services
from .questions import QUESTIONS, SCORE_KEYS, questions_for, survey_title


def _unavailable(request, error, status: int):
    title = _("This survey is closed") if status == 410 else _("Survey not found")
    context = {"title": title, "detail": error.detail}
    response = render(request, "feedback/survey_unavailable.html", context, status=status)
    return _private(response)


def _in_language(response):
    """Say which language the page is in (the view renders in the customer's, not the browser's)."""
    response["Content-Language"] = translation.get_language()
    return response


def _private(response):
    """The token is in the URL: keep the page out of caches, search engines and other sites' referrers.

    `same-origin`, not `no-referrer`: with no referrer at all Chromium posts the form with
    `Origin: null`, which Django's CSRF check refuses (403). The page loads nothing from another
    origin and links nowhere else, so the token's URL only ever goes back to this server.
    """
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _preselected(params, response) -> dict:
    """Scores to show as chosen: the link's (`?csat=5`, when valid) over the earlier answer."""
    chosen = {key: getattr(response, key, None) for key in SCORE_KEYS} if response else {}
    for key in SCORE_KEYS:
        raw = params.get(key, "")
        if is_number(raw) and QUESTIONS[key].low <= int(raw) <= QUESTIONS[key].high:
            chosen[key] = int(raw)
    return chosen


def _form_rows(questions, chosen: dict, errors: dict) -> list[dict]:
    rows = []
    for question in questions:
        value = chosen.get(question.key)
        row = {
            "question": question,
            "chosen": str(value) if value is not None else None,
            "errors": errors.get(question.key, []),
        }
        if question.is_score:
            row["scores"] = list(range(question.low, question.high + 1))
        rows.append(row)
    return rows


@never_cache
@require_http_methods(["GET", "POST"])
def survey_page(request, token: str):
    invitation = selectors.invitation_for_token(token)
    if invitation is None:
        return _in_language(_survey_page(request, token, None))
    with languages.speaking_to(root_contact(invitation.contact), invitation.inbox):
        return _in_language(_survey_page(request, token, invitation))


def _survey_page(request, token: str, invitation):
    errors: dict = {}
    status = 200
    if request.method == "POST":
        # The answer first: the service finds, locks and checks the invitation itself, so a
        # good answer costs one lookup; the form is only built again to show errors.
        posted = {key: request.POST.get(key) or None for key in SCORE_KEYS}
        try:
            services.survey_answer(token=token, channel=None, comment=request.POST.get("comment", ""), **posted)
        except NotFound as error:
            return _unavailable(request, error, 404)
        except Gone as error:
            return _unavailable(request, error, 410)
        except InvalidInput as error:
            errors, status = error.fields, 400
        else:
            return _private(HttpResponseRedirect(f"{request.path}?saved=1", status=303))
    if request.method == "POST":
        invitation = selectors.invitation_for_token(token)  # as the answer left it
    try:
        services.check_open(invitation)
    except NotFound as error:
        return _unavailable(request, error, 404)
    except Gone as error:
        return _unavailable(request, error, 410)
    policy = services.policy_of(invitation.inbox)
    questions = questions_for(invitation.questions, policy.wording, default_language=invitation.inbox.language)
    previous = getattr(invitation, "response", None)
    if request.method == "POST":
        chosen = {key: value for key, value in posted.items() if key not in errors}
        comment = request.POST.get("comment", "")
    else:
        chosen = _preselected(request.GET, previous)
        comment = previous.comment if previous else ""
    context = {
        "survey_title": survey_title(),
        "inbox": invitation.inbox,
        "rows": _form_rows(questions, chosen, errors),
        "comment": comment,
        "errors": errors,
        "non_field_errors": errors.get("non_field_errors", []),
        "answered": previous is not None,
        "saved": request.GET.get("saved") == "1" and previous is not None,
        "edit_until": (previous.answered_at + services.EDIT_WINDOW) if previous else None,
    }
    return _private(render(request, "feedback/survey.html", context, status=status))
