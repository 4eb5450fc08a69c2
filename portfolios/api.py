from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from marketdata.exchange.errors import ExchangeError
from portfolios.filters import ExchangeAccountFilter
from portfolios.models import ExchangeAccount
from portfolios.serializers import ExchangeAccountSerializer
from portfolios.services import ExchangeAccountRefused, exchange_account_create
from tradingsite.api_errors import exchange_problem
from tradingsite.mfa import ExchangeKeysNeedTwoFactor


class ExchangeAccountViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                             mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """A trader's own exchange keys: list, add (checked with Binance), remove. Only from a
    signed-in session with two-factor on and its code given within the last minutes."""

    serializer_class = ExchangeAccountSerializer
    permission_classes = [IsAuthenticated, ExchangeKeysNeedTwoFactor]
    queryset = ExchangeAccount.objects.none()  # the schema's model; get_queryset scopes it
    filterset_class = ExchangeAccountFilter
    ordering_fields = ["name", "id", "created_at"]

    def get_queryset(self):
        return ExchangeAccount.objects.filter(owner=self.request.user)

    @extend_schema(responses={201: ExchangeAccountSerializer})
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            account = exchange_account_create(owner=request.user, **serializer.validated_data)
        except ExchangeAccountRefused as refused:
            raise ValidationError({"api_key": [str(refused)]}) from refused
        except ExchangeError as error:  # Binance could not check the key now
            raise exchange_problem(error) from error
        return Response(self.get_serializer(account).data, status=status.HTTP_201_CREATED)
