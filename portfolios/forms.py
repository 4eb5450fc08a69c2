from decimal import Decimal

from django import forms

from marketdata.symbol_rules import rules_for
from portfolios.models import ExchangeAccount, Portfolio, SymbolAllocation

PAPER = Portfolio.Mode.PAPER
# Which exchange accounts fit a portfolio's mode: a live portfolio never trades through a test
# key, and a testnet portfolio never through a live one.
ACCOUNT_MODES = {Portfolio.Mode.TESTNET: {ExchangeAccount.Mode.TESTNET, ExchangeAccount.Mode.LOCAL},
                 Portfolio.Mode.LIVE: {ExchangeAccount.Mode.LIVE}}
FIXED_ONCE_USED = ("quote_asset", "mode", "exchange_account")


def _plainly(form: forms.ModelForm) -> None:
    """Show stored decimals as typed: 1000, not 1000.000000000000000000 or 0E-18."""
    for name, field in form.fields.items():
        value = form.initial.get(name)
        if isinstance(field, forms.DecimalField) and isinstance(value, Decimal):
            form.initial[name] = format(value.normalize(), "f")


class PortfolioForm(forms.ModelForm):
    starting_balance = forms.DecimalField(
        initial=Decimal("10000"), min_value=Decimal(0), max_digits=36, decimal_places=18,
        required=False, help_text="paper only: simulated money deposited in the quote asset")

    class Meta:
        model = Portfolio
        fields = ["name", "quote_asset", "mode", "exchange_account", "total_budget",
                  "max_budget_per_symbol", "risk_level", "maker_fee", "taker_fee",
                  "slippage_bps", "pay_fees_in_bnb"]
        labels = {"slippage_bps": "Slippage (bps)", "pay_fees_in_bnb": "Pay fees in BNB"}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        accounts = ExchangeAccount.objects.filter(owner=user)
        self.fields["exchange_account"].queryset = accounts
        self.fields["exchange_account"].empty_label = "none (paper)"
        if not accounts.exists():
            self.fields["mode"].choices = [(PAPER, Portfolio.Mode(PAPER).label)]
            self.fields["mode"].help_text = ("Testnet and live need an exchange account: add "
                                             "your Binance API key first.")
        if self.instance.pk:
            _plainly(self)
            del self.fields["starting_balance"]
            if self.is_in_use():
                for name in FIXED_ONCE_USED:
                    self.fields[name].disabled = True
                    self.fields[name].help_text = ("fixed once the portfolio holds money or "
                                                   "has orders")
        else:
            self.initial.setdefault("total_budget", Decimal("10000"))

    def is_in_use(self) -> bool:
        portfolio = self.instance
        return (portfolio.orders.exists()
                or portfolio.balances.exclude(free=0, locked=0).exists())

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        taken = Portfolio.objects.owned_by(self.user).filter(name=name)
        if taken.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(f"You already have a portfolio named {name}.")
        return name

    def clean_quote_asset(self):
        return self.cleaned_data["quote_asset"].strip().upper()

    def clean(self):
        data = super().clean()
        mode, account = data.get("mode"), data.get("exchange_account")
        if mode == PAPER:
            data["exchange_account"] = None
        elif mode and account is None:
            self.add_error("exchange_account", "A testnet or live portfolio trades through "
                           "one of your exchange accounts: choose one.")
        elif mode and account.mode not in ACCOUNT_MODES[mode]:
            self.add_error("exchange_account", f"{account.name} is a {account.get_mode_display()} "
                           f"account; a {mode} portfolio needs a matching one.")
        return data


    @property
    def deposit(self) -> Decimal:
        """What to deposit on creation: a paper portfolio's starting balance, else nothing."""
        if self.cleaned_data.get("mode") != PAPER:
            return Decimal(0)
        return self.cleaned_data.get("starting_balance") or Decimal(0)


class AllocationForm(forms.ModelForm):
    class Meta:
        model = SymbolAllocation
        fields = ["symbol", "allocated_budget"]
        labels = {"allocated_budget": "Budget"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _plainly(self)

    def clean_symbol(self):
        symbol = self.cleaned_data["symbol"].strip().upper()
        if rules_for("spot", symbol) is None:
            raise forms.ValidationError(f"{symbol} is not a known spot symbol.")
        return symbol


AllocationFormSet = forms.inlineformset_factory(
    Portfolio, SymbolAllocation, form=AllocationForm, extra=2, can_delete=True)
