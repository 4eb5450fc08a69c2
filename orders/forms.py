from decimal import Decimal

from django import forms

from marketdata.models import WatchedSymbol
from orders.serializers import SPOT_ORDER_TYPES, TIMES_IN_FORCE
from portfolios.models import Portfolio

# Which fields each order type takes; the others are dropped, so a price left in the box
# after switching to MARKET is not sent (Binance would refuse it).
TAKES_PRICE = {"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"}
TAKES_STOP = {"STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"}
TAKES_TIME_IN_FORCE = {"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"}


def _amount(label: str) -> forms.DecimalField:
    return forms.DecimalField(label=label, required=False, min_value=Decimal(0),
                              max_digits=36, decimal_places=18,
                              widget=forms.TextInput(attrs={"inputmode": "decimal",
                                                            "autocomplete": "off"}))


class OrderTicketForm(forms.Form):
    portfolio = forms.ModelChoiceField(queryset=Portfolio.objects.none(), empty_label=None)
    symbol = forms.RegexField(r"^[A-Za-z0-9]{2,30}$", max_length=30, initial="BTCUSDT",
                              widget=forms.TextInput(attrs={"list": "ticket-symbols",
                                                            "autocomplete": "off"}))
    side = forms.ChoiceField(choices=[("BUY", "Buy"), ("SELL", "Sell")], initial="BUY",
                             widget=forms.RadioSelect)
    type = forms.ChoiceField(choices=[(t, t.replace("_", " ").title()) for t in SPOT_ORDER_TYPES],
                             initial="LIMIT")
    quantity = _amount("Quantity")
    quote_quantity = _amount("Quote amount")
    price = _amount("Price")
    stop_price = _amount("Stop price")
    time_in_force = forms.ChoiceField(choices=[(t, t) for t in TIMES_IN_FORCE], initial="GTC",
                                      required=False, label="Time in force")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["portfolio"].queryset = Portfolio.objects.owned_by(user).filter(active=True)
        self.symbols = list(WatchedSymbol.objects.active().filter(market="spot")
                            .values_list("symbol", flat=True))

    def clean(self):
        data = super().clean()
        kind = data.get("type")
        if kind not in TAKES_PRICE:
            data["price"] = None
        if kind not in TAKES_STOP:
            data["stop_price"] = None
        if kind not in TAKES_TIME_IN_FORCE:
            data["time_in_force"] = ""
        if kind != "MARKET":
            data["quote_quantity"] = None
        if (data.get("quantity") is None) == (data.get("quote_quantity") is None):
            raise forms.ValidationError(
                "Give a quantity, or for a market order either a quantity or a quote amount.")
        if data.get("symbol"):
            data["symbol"] = data["symbol"].upper()
        return data

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data["order_type"] = data.pop("type")
        return data
