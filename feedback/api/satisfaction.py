"""Predicted satisfaction endpoints: the figures, the model and its evaluation, a conversation's prediction.

- `GET /api/v1/metrics/satisfaction/` (scoped like every metric): the estimate with its interval,
  coverage, respondents against non-respondents, the breakdowns, and the model behind them (or
  why there is none).
- `GET /api/v1/satisfaction/model/`, `POST /api/v1/satisfaction/model/train/` (supervisors).
- `GET /api/v1/satisfaction/conversations/?conversation=…` and `…/conversations/{id}/`
  (supervisors: the console's "likely unhappy" and the three features that weigh most).
"""

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import audit
from chat.selectors import (
    conversation_get,
    conversations_visible_to,
    is_number,
    may_manage_workspace,
    user_is_supervisor,
)
from cxhub.errors import Forbidden, InvalidInput

from .. import predictions, reports
from ..models import SatisfactionModel
from .metrics import FILTER_PARAMETERS

BREAKDOWNS = ("agent", "team", "channel")
MAX_CONVERSATIONS = 200
HISTORY = 10


def _require_supervisor(user) -> None:
    if not user_is_supervisor(user):
        raise Forbidden("Only supervisors and admins see predicted satisfaction per conversation and train the model.")


@extend_schema(parameters=FILTER_PARAMETERS, responses={200: dict})
class MetricsSatisfactionView(APIView):
    """Estimated CSAT over every resolved conversation (answered or predicted), with its interval and evaluation."""

    def get(self, request):
        filters = reports.parse_filters(request.user, request.query_params)
        status = predictions.model_status()
        figures = predictions.figures_for(filters, status)
        figures.pop("model")
        return Response(
            {
                "from": filters.day_from.isoformat(),
                "to": filters.day_to.isoformat(),
                "filters": filters.echo,
                "metrics": figures,
                "breakdowns": {by: predictions.breakdown(filters, by=by, status=status) for by in BREAKDOWNS},
                "model": status,
            }
        )


@extend_schema(responses={200: dict})
class SatisfactionModelView(APIView):
    """The model in force with its evaluation, the latest training run, and the last runs."""

    def get(self, request):
        _require_supervisor(request.user)
        history = SatisfactionModel.objects.order_by("-pk")[:HISTORY]
        return Response(predictions.model_status() | {"history": [predictions.model_document(r) for r in history]})


@extend_schema(request=None, responses={202: dict})
class SatisfactionTrainView(APIView):
    """Train now (as the nightly run does); 202 with the status (eagerly run without a worker)."""

    def post(self, request):
        _require_supervisor(request.user)
        # a token limited to some inboxes reads the model; training changes it for every inbox
        if not may_manage_workspace(request.user):
            raise Forbidden(
                "Training the model changes it for every inbox: use a credential not limited to some inboxes."
            )
        from ..pipeline_tasks import satisfaction_train

        user_id = request.user.pk
        audit.record(actor=request.user, action="satisfaction_model_train", target_type="satisfaction_model")
        transaction.on_commit(lambda: satisfaction_train.delay(trigger="api", user_id=user_id))
        return Response(predictions.model_status(), status=status.HTTP_202_ACCEPTED)


class ConversationSatisfactionListView(APIView):
    """The predictions of these conversations (those the user may see; at most 200)."""

    @extend_schema(
        operation_id="satisfaction_conversations_list",
        parameters=[OpenApiParameter("conversation", int, many=True, description="Conversation id; repeatable.")],
        responses={200: dict},
    )
    def get(self, request):
        _require_supervisor(request.user)
        raw = [v for item in request.query_params.getlist("conversation") for v in item.split(",") if v.strip()]
        if any(not is_number(v.strip()) or len(v.strip()) > 18 for v in raw):
            raise InvalidInput("Unknown conversation.", fields={"conversation": ["Conversation ids are numbers."]})
        if len(raw) > MAX_CONVERSATIONS:
            raise InvalidInput(
                f"At most {MAX_CONVERSATIONS} conversations at once.",
                fields={"conversation": [f"At most {MAX_CONVERSATIONS}."]},
            )
        wanted = {int(v) for v in raw}
        visible = list(conversations_visible_to(request.user).filter(pk__in=wanted).values_list("pk", flat=True))
        rows = predictions.predictions_of(visible)
        status_document = predictions.model_status()
        return Response(
            {
                "available": status_document["available"],
                "explanation": status_document["explanation"],
                "results": [
                    {"conversation_id": pk, **predictions.prediction_document(rows.get(pk))} for pk in sorted(visible)
                ],
            }
        )


class ConversationSatisfactionView(APIView):
    """One conversation's prediction: P(CSAT ≥ 4), expected CSAT, "likely unhappy", the three reasons."""

    @extend_schema(operation_id="satisfaction_conversation_retrieve", responses={200: dict})
    def get(self, request, conversation_id: int):
        _require_supervisor(request.user)
        conversation = conversation_get(request.user, conversation_id)
        row = predictions.predictions_of([conversation.pk]).get(conversation.pk)
        return Response({"conversation_id": conversation.pk, **predictions.prediction_document(row)})
