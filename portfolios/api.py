from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from portfolios.models import ExchangeAccount
from portfolios.serializers import ExchangeAccountSerializer
from portfolios.services import ExchangeAccountRefused, exchange_account_create


class ExchangeAccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                             mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """A trader's own exchange keys: list, add (checked with Binance), remove."""

    serializer_class = ExchangeAccountSerializer

    def get_queryset(self):
        return ExchangeAccount.objects.filter(owner=self.request.user)

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            account = exchange_account_create(owner=request.user, **serializer.validated_data)
        except ExchangeAccountRefused as refused:
            raise ValidationError({"api_key": [str(refused)]}) from refused
        return Response(self.get_serializer(account).data, status=status.HTTP_201_CREATED)
