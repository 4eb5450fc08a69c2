"""The trader's risk pages: limits (every change recorded), alerts, entry blocks, circuit
breakers, and the emergency stop with its confirmation and its audit.

Every query starts from `request.user`; anyone else's objects are a 404.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portfolios.models import Portfolio
from risk import services
from risk.emergency import emergency_stop, entries_resume
from risk.forms import RiskLimitForm
from risk.limits import risk_limit_delete, risk_limit_save
from risk.models import EmergencyStop, EntryBlock, RiskAlert, RiskLimit
from risk.monitor import entry_block_clear, risk_alert_acknowledge


def _portfolio(request, pk) -> Portfolio:
    return get_object_or_404(Portfolio.objects.owned_by(request.user), pk=pk)


def _stops(user):
    return EmergencyStop.objects.filter(portfolio__owner=user) | EmergencyStop.objects.filter(
        requested_by=user)


def panel_context(user, portfolio: Portfolio) -> dict:
    """What the dashboard's risk card shows for one portfolio."""
    return {
        "portfolio": portfolio,
        # Active ones, and those over but not yet seen: a breach overnight is still news.
        "alerts": RiskAlert.objects.filter(
            Q(resolved_at__isnull=True) | Q(acknowledged_at__isnull=True),
            owner=user, portfolio=portfolio)[:10],
        "blocks": EntryBlock.objects.active().filter(portfolio=portfolio),
        "breakers": services.circuit_breakers(portfolio=portfolio),
    }


@login_required
@require_GET
def risk_page(request):
    user = request.user
    return render(request, "risk/page.html", {
        "limits": RiskLimit.objects.visible_to(user).select_related("portfolio", "bot"),
        "global_limits": RiskLimit.objects.filter(owner__isnull=True, portfolio__isnull=True,
                                                  bot__isnull=True),
        "alerts": RiskAlert.objects.filter(owner=user).select_related("portfolio")[:50],
        "blocks": EntryBlock.objects.filter(portfolio__owner=user).select_related(
            "portfolio")[:50],
        "stops": _stops(user).select_related("portfolio", "requested_by")[:20],
        "portfolios": [(p, services.circuit_breakers(portfolio=p))
                       for p in Portfolio.objects.owned_by(user)],
    })


@login_required
@require_GET
def risk_panel(request, pk):
    portfolio = _portfolio(request, pk)
    return render(request, "risk/partials/panel.html", panel_context(request.user, portfolio))


@login_required
@require_http_methods(["GET", "POST"])
def limit_edit(request, pk=None):
    limit = None
    if pk is not None:
        limit = get_object_or_404(RiskLimit.objects.filter(owner=request.user), pk=pk)
    form = RiskLimitForm(request.POST or None, instance=limit, owner=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            risk_limit_save(limit=form.instance, by=request.user)
        except ValidationError as invalid:
            form.add_error(None, invalid)
        else:
            messages.success(request, f"Saved the {form.instance}.")
            return redirect("risk:page")
    changes = limit.changes.select_related("changed_by")[:20] if limit else []
    return render(request, "risk/limit_form.html", {"form": form, "limit": limit,
                                                    "changes": changes},
                  status=400 if form.errors else 200)


@login_required
@require_POST
def limit_delete(request, pk):
    limit = get_object_or_404(RiskLimit.objects.filter(owner=request.user), pk=pk)
    risk_limit_delete(limit=limit, by=request.user)
    messages.success(request, "Limit deleted (the change log keeps its values).")
    return redirect("risk:page")


def _back(request, fallback="risk:page"):
    target = request.POST.get("next", "")
    return redirect(target if target.startswith("/") and not target.startswith("//")
                    else fallback)


@login_required
@require_POST
def alert_acknowledge(request, pk):
    alert = get_object_or_404(RiskAlert.objects.filter(owner=request.user), pk=pk)
    risk_alert_acknowledge(alert=alert, by=request.user)
    return _back(request)


@login_required
@require_POST
def block_clear(request, pk):
    block = get_object_or_404(EntryBlock.objects.filter(portfolio__owner=request.user), pk=pk)
    entry_block_clear(block=block, by=request.user)
    return _back(request)


@login_required
@require_http_methods(["GET", "POST"])
def emergency_stop_confirm(request, pk):
    """GET asks (what will stop, close positions or not); POST runs the stop."""
    portfolio = _portfolio(request, pk)
    if request.method == "GET":
        return render(request, "risk/emergency_confirm.html", {
            "portfolio": portfolio, "bots": portfolio.bots.filter(status="running"),
            "open_orders": portfolio.orders.open().count()})
    stop = emergency_stop(portfolios=[portfolio], requested_by=request.user, via="dashboard",
                          close_positions=request.POST.get("close_positions") == "on")
    return redirect("risk:stop", pk=stop.pk)


@login_required
@require_GET
def emergency_stop_detail(request, pk):
    stop = get_object_or_404(_stops(request.user), pk=pk)
    return render(request, "risk/emergency_detail.html", {
        "stop": stop, "steps": stop.steps.select_related("order")})


@login_required
@require_POST
def resume_entries(request, pk):
    portfolio = _portfolio(request, pk)
    cleared = entries_resume(portfolio=portfolio, by=request.user)
    messages.success(request, f"Entries allowed again on {portfolio.name}." if cleared
                     else f"Entries on {portfolio.name} were not blocked by an emergency stop.")
    return _back(request)
