"""The AI analyses API under /api/ai/: analyses, advisor calls and sentiment items are shared
market data every signed-in trader reads; a note's author is private (shown only to them),
notes are listed to their author only and are never deleted (point-in-time history).

Running an analysis on demand is for staff: there is no single-symbol task to queue, and the
advisor may take OLLAMA_TIMEOUT seconds, so it runs in the request."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from bots.ai import AnalysisRefused, note_add, symbol_analyse
from bots.ai_serializers import (
    AdvisorCallSerializer,
    AnalyseInput,
    AnalysisSerializer,
    NoteInput,
    SentimentItemSerializer,
)
from bots.filters import AdvisorCallFilter, AnalysisFilter, NoteFilter, SentimentItemFilter
from bots.models import AdvisorCall, AISymbolAnalysis, SentimentItem


def refused(error: AnalysisRefused) -> ValidationError:
    """The service's words as a validation error, shaped like a serializer's."""
    return ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [str(error)]})


class AnalysisViewSet(viewsets.ReadOnlyModelViewSet):
    """Combined analyses, newest first, with their technical part and the advisor's answer.
    Filters: ?symbol=&market=&interval=&action=&since=&until= (on as_of)."""

    serializer_class = AnalysisSerializer
    filterset_class = AnalysisFilter
    ordering_fields = ["as_of", "id", "symbol"]

    def get_queryset(self):
        return AISymbolAnalysis.objects.select_related("technical", "advisor").order_by(
            "-as_of", "-pk")


class AdvisorCallViewSet(viewsets.ReadOnlyModelViewSet):
    """Every question to the LLM advisor, whole: prompt, inputs, raw output, parsed answer.
    Filters: ?symbol=&outcome=."""

    serializer_class = AdvisorCallSerializer
    filterset_class = AdvisorCallFilter
    ordering_fields = ["created_at", "id", "symbol"]

    def get_queryset(self):
        return AdvisorCall.objects.order_by("-created_at", "-pk")


class SentimentItemViewSet(viewsets.ReadOnlyModelViewSet):
    """Scored headlines, market items and notes, newest first; ``author`` is null unless the
    note is yours. Filters: ?symbol=&source=&since=&until= (on published_at)."""

    serializer_class = SentimentItemSerializer
    filterset_class = SentimentItemFilter
    ordering_fields = ["published_at", "id", "symbol"]

    def get_queryset(self):
        return SentimentItem.objects.select_related("feed").order_by("-published_at", "-pk")


class NoteViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """GET: your own notes, newest first (?symbol=); POST {symbol, text, score?}: a note,
    scored by VADER unless you give a score in -1..1. No DELETE: analyses read notes
    point in time, so a note once written stays."""

    serializer_class = SentimentItemSerializer
    queryset = SentimentItem.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = NoteFilter
    ordering_fields = ["published_at", "id", "symbol"]

    @extend_schema(request=NoteInput, responses={201: SentimentItemSerializer})
    def create(self, request, *args, **kwargs):
        return self._create(request)

    def get_queryset(self):
        if not self.request.user.is_authenticated:  # the schema asks without a user
            return SentimentItem.objects.none()
        return SentimentItem.objects.filter(
            source=SentimentItem.Source.MANUAL, author=self.request.user,
        ).select_related("feed").order_by("-published_at", "-pk")

    def _create(self, request):
        given = NoteInput(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            note = note_add(author=request.user, **given.validated_data)
        except AnalysisRefused as error:
            raise refused(error) from error
        return Response(self.get_serializer(note).data, status=status.HTTP_201_CREATED)


class IsStaff(IsAdminUser):
    message = ("only staff run an analysis on demand; the watched symbols are analysed "
               "on schedule")


class SymbolAnalyseApi(APIView):
    """POST {symbol, market?, interval?}: analyse a known symbol now (staff), 201 with the
    analysis; too few stored candles is a 400 in words."""

    permission_classes = [IsAuthenticated, IsStaff]

    @extend_schema(request=AnalyseInput, responses={201: AnalysisSerializer})
    def post(self, request):
        given = AnalyseInput(data=request.data)
        given.is_valid(raise_exception=True)
        try:
            analysis = symbol_analyse(**given.validated_data)
        except AnalysisRefused as error:
            raise refused(error) from error
        return Response(AnalysisSerializer(analysis).data, status=status.HTTP_201_CREATED)
