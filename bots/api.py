from django.db import IntegrityError
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from bots.models import Bot
from bots.serializers import BotSerializer, DecisionSerializer, StopInput
from bots.services import (
    BotRefused,
    bot_create,
    bot_pause,
    bot_resume,
    bot_start,
    bot_stop,
    bot_update,
)
from bots.strategies import available, describe


class BotViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                 mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """Own bots. POST creates one (stopped; parameters checked against the strategy, refused
    in words); PATCH edits a stopped bot; POST <id>/start|pause|resume|stop/ control it;
    GET <id>/decisions/ is its decision log, newest first. ?status=&portfolio= filter."""

    serializer_class = BotSerializer

    def get_queryset(self):
        bots = Bot.objects.owned_by(self.request.user).select_related("portfolio")
        for name in ("status", "portfolio"):
            if self.request.query_params.get(name):
                bots = bots.filter(**{name: self.request.query_params[name]})
        return bots

    def perform_create(self, serializer):
        data = serializer.validated_data
        try:
            serializer.instance = bot_create(**data)
        except BotRefused as refused:
            raise ValidationError(refused.errors) from refused
        except IntegrityError as clash:
            raise ValidationError({"name": ["this portfolio has a bot of that name"]}) from clash

    def perform_update(self, serializer):
        try:
            serializer.instance = bot_update(bot=serializer.instance, **serializer.validated_data)
        except BotRefused as refused:
            raise ValidationError(refused.errors) from refused

    def _control(self, act):
        try:
            bot = act(self.get_object())
        except BotRefused as refused:
            raise ValidationError(refused.errors) from refused
        return Response(self.get_serializer(bot).data)

    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._control(lambda bot: bot_start(bot=bot))

    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._control(lambda bot: bot_pause(bot=bot))

    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._control(lambda bot: bot_resume(bot=bot))

    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        options = StopInput(data=request.data)
        options.is_valid(raise_exception=True)
        return self._control(lambda bot: bot_stop(bot=bot, **options.validated_data))

    @action(detail=True, methods=["get"])
    def decisions(self, request, pk=None):
        page = self.paginate_queryset(self.get_object().decisions.prefetch_related("orders"))
        return self.get_paginated_response(DecisionSerializer(page, many=True).data)


class StrategyViewSet(viewsets.ViewSet):
    """The registered strategies and their parameters (names, types, defaults, ranges)."""

    def list(self, request):
        return Response([describe(name) for name in sorted(available())])

    def retrieve(self, request, pk=None):
        if pk not in available():
            return Response({"detail": f"no strategy {pk!r}"}, status=status.HTTP_404_NOT_FOUND)
        return Response(describe(pk))
