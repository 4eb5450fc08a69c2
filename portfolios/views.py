"""The trader's portfolio pages and the dashboard.

Every query starts from `request.user` (`owned_by`): anyone else's portfolio is a 404. A view
renders the whole page, or the one partial a pushed event refreshes.
"""

from datetime import datetime
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from bots.budget import headroom
from bots.views import bots_table_context
from orders.services import paper_deposit
from portfolios.forms import AllocationFormSet, PortfolioForm
from portfolios.models import Portfolio
from portfolios.services import portfolio_analytics, portfolio_valuation
from risk.views import panel_context

EQUITY_POINTS = 2000
NOT_ENOUGH = "not enough data yet"
CENT = Decimal("0.01")


def _owned(request, pk) -> Portfolio:
    return get_object_or_404(Portfolio.objects.owned_by(request.user), pk=pk)


# --- figures ---------------------------------------------------------------------------------

def _pnl(equity: Decimal, starting: str | None) -> tuple[Decimal | None, Decimal | None]:
    """PnL against the first equity snapshot (deposits before it are not trading results)."""
    if starting is None:
        return None, None
    start = Decimal(starting)
    pnl = equity - start
    return pnl, (pnl * 100 / start).quantize(CENT) if start > 0 else None


def _summary(portfolio: Portfolio) -> dict:
    value = portfolio_valuation(portfolio=portfolio)
    stats = portfolio_analytics(portfolio=portfolio)
    pnl, pnl_pct = _pnl(value.equity, stats["starting_equity"])
    return {"portfolio": portfolio, "valuation": value, "pnl": pnl, "pnl_pct": pnl_pct,
            "analytics": stats, "not_enough": NOT_ENOUGH}


def _percent(fraction: str | None) -> str:
    return NOT_ENOUGH if fraction is None else f"{Decimal(fraction) * 100:.2f} %"


def _ratio(value: str | None) -> str:
    return NOT_ENOUGH if value is None else f"{Decimal(value):.2f}"


def _figures(portfolio: Portfolio) -> dict:
    stats = portfolio_analytics(portfolio=portfolio)
    rows = [("Sharpe ratio", _ratio(stats["sharpe"])),
            ("Sortino ratio", _ratio(stats["sortino"])),
            ("Max drawdown", _percent(stats["max_drawdown"])),
            ("Win rate", _percent(stats["win_rate"])),
            ("Profit factor", _ratio(stats["profit_factor"])),
            ("Closed trades", str(stats["trade_count"])),
            ("Realised PnL", NOT_ENOUGH if stats["realised_pnl"] is None
             else f"{Decimal(stats['realised_pnl']):.2f} {portfolio.quote_asset}")]
    return {"portfolio": portfolio, "figures": rows, "not_enough": NOT_ENOUGH,
            "exposure": stats["exposure"]}


def _allocations(portfolio: Portfolio) -> dict:
    rows = [{"allocation": a, "headroom": headroom(portfolio, a.symbol)}
            for a in portfolio.allocations.all()]
    return {"portfolio": portfolio, "allocations": rows}


PARTIALS = {
    "summary": ("portfolios/partials/summary.html", _summary),
    "figures": ("portfolios/partials/figures.html", _figures),
    "allocations": ("portfolios/partials/allocations.html", _allocations),
}


# --- pages -----------------------------------------------------------------------------------

@login_required
@require_GET
def portfolio_list(request):
    portfolios = Portfolio.objects.owned_by(request.user).prefetch_related("bots")
    rows = [{"portfolio": p, "valuation": portfolio_valuation(portfolio=p)} for p in portfolios]
    return render(request, "portfolios/list.html", {"rows": rows})


@login_required
@require_GET
def portfolio_detail(request, pk):
    portfolio = _owned(request, pk)
    context = {"portfolio": portfolio, **bots_table_context(request.user, portfolio=portfolio)}
    for _template, build in PARTIALS.values():
        context.update(build(portfolio))
    return render(request, "portfolios/detail.html", context)


@login_required
@require_GET
def portfolio_partial(request, pk, name):
    portfolio = _owned(request, pk)
    if name not in PARTIALS:
        raise Http404("no such partial")
    template, build = PARTIALS[name]
    return render(request, template, build(portfolio))


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@login_required
@require_GET
def portfolio_equity(request, pk):
    """The equity curve for the chart: the last snapshots, oldest first."""
    portfolio = _owned(request, pk)
    rows = (portfolio.snapshots.order_by("-taken_at")
            .values_list("taken_at", "equity")[:EQUITY_POINTS])
    points = [{"time": _epoch(at), "value": float(equity)} for at, equity in reversed(rows)]
    return JsonResponse({"quote_asset": portfolio.quote_asset, "points": points})


def _edit_page(request, form, formset, portfolio=None, status=200):
    context = {"form": form, "formset": formset, "portfolio": portfolio}
    return render(request, "portfolios/form.html", context, status=status)


@transaction.atomic
def _create(form, formset, owner) -> Portfolio:
    form.instance.owner = owner
    portfolio = form.save()
    formset.instance = portfolio
    formset.save()
    if form.deposit > 0:
        paper_deposit(portfolio=portfolio, asset=portfolio.quote_asset, amount=form.deposit)
    return portfolio


@login_required
@require_http_methods(["GET", "POST"])
def portfolio_create(request):
    if request.method == "GET":
        form = PortfolioForm(user=request.user)
        return _edit_page(request, form, AllocationFormSet(prefix="allocations"))
    form = PortfolioForm(request.POST, user=request.user)
    formset = AllocationFormSet(request.POST, prefix="allocations")
    if not (form.is_valid() and formset.is_valid()):
        return _edit_page(request, form, formset, status=400)
    portfolio = _create(form, formset, request.user)
    messages.success(request, f"Portfolio {portfolio.name} created.")
    return redirect("portfolios:detail", pk=portfolio.pk)


@login_required
@require_http_methods(["GET", "POST"])
def portfolio_edit(request, pk):
    portfolio = _owned(request, pk)
    if request.method == "GET":
        form = PortfolioForm(instance=portfolio, user=request.user)
        formset = AllocationFormSet(instance=portfolio, prefix="allocations")
        return _edit_page(request, form, formset, portfolio)
    form = PortfolioForm(request.POST, instance=portfolio, user=request.user)
    formset = AllocationFormSet(request.POST, instance=portfolio, prefix="allocations")
    if not (form.is_valid() and formset.is_valid()):
        return _edit_page(request, form, formset, portfolio, status=400)
    with transaction.atomic():
        form.save()
        formset.save()
    messages.success(request, "Portfolio saved.")
    return redirect("portfolios:detail", pk=portfolio.pk)


# --- the dashboard ---------------------------------------------------------------------------

def _selected(request, portfolios: list[Portfolio]) -> Portfolio | None:
    wanted = request.GET.get("portfolio")
    if wanted:
        if not wanted.isdigit():
            raise Http404("no such portfolio")
        return _owned(request, int(wanted))
    return next((p for p in portfolios if p.active), portfolios[0] if portfolios else None)


@login_required
@require_GET
def dashboard(request):
    """The selected portfolio's value, PnL and equity curve; the trader's bots, positions,
    open orders and fills across portfolios; alerts."""
    portfolios = list(Portfolio.objects.owned_by(request.user))
    selected = _selected(request, portfolios)
    context = {"portfolios": portfolios, "selected": selected,
               **bots_table_context(request.user)}
    if selected is not None:
        context.update(_summary(selected))
        context.update({k: v for k, v in panel_context(request.user, selected).items()
                        if k != "portfolio"})
    return render(request, "dashboard/page.html", context)
