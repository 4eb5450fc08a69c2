"""The approval queue: entries the trader's bots wait to have approved, with the bot's
reasoning, approved or rejected here (HTMX) before they expire; and each bot's rules for
which entries wait.

Every query starts from `request.user`: anyone else's approval or bot is a 404.
"""

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from bots.approvals import ApprovalRefused, approval_approve, approval_reject
from bots.models import Bot, TradeApproval
from bots.services import BotRefused, bot_approval_rules

RECENT_DECIDED = 30
DONE = {"approve": "approved", "reject": "rejected"}


def approvals_context(user, *, bot: Bot | None = None) -> dict:
    owned = (TradeApproval.objects.owned_by(user)
             .select_related("bot", "order", "analysis__advisor", "decided_by"))
    url = reverse("bots:approvals-partial")
    if bot is not None:
        owned = owned.filter(bot=bot)
        url += f"?bot={bot.pk}"
    return {"pending": list(owned.pending().order_by("expires_at")),
            "decided": list(owned.exclude(status=TradeApproval.Status.PENDING)
                            .order_by("-decided_at", "-pk")[:RECENT_DECIDED]),
            "approvals_url": url, "approvals_bot": bot, "now": timezone.now()}


def _bot_filter(request) -> Bot | None:
    wanted = request.GET.get("bot") or request.POST.get("bot") or ""
    if not wanted:
        return None
    return get_object_or_404(Bot.objects.owned_by(request.user),
                             pk=int(wanted) if wanted.isdigit() else -1)


@login_required
@require_GET
def approvals_page(request):
    return render(request, "bots/approvals.html", approvals_context(request.user))


@login_required
@require_GET
def approvals_partial(request):
    return render(request, "bots/partials/approvals.html",
                  approvals_context(request.user, bot=_bot_filter(request)))


@login_required
@require_POST
def approval_decide(request, pk, verdict):
    approval = get_object_or_404(TradeApproval.objects.owned_by(request.user), pk=pk)
    problem = None
    try:
        act = approval_approve if verdict == "approve" else approval_reject
        approval = act(approval=approval, user=request.user)
    except ApprovalRefused as refused:
        problem = str(refused)
    if not request.headers.get("HX-Request"):
        if problem:
            messages.error(request, problem)
        else:
            messages.success(request, _done(approval, verdict))
        back_to_bot = request.POST.get("next") == "bot"
        return redirect(reverse("bots:detail", args=[approval.bot_id]) if back_to_bot
                        else reverse("bots:approvals"))
    context = approvals_context(request.user, bot=_bot_filter(request))
    context["problem"] = problem
    context["done"] = None if problem else _done(approval, verdict)
    return render(request, "bots/partials/approvals.html", context)


def _done(approval: TradeApproval, verdict: str) -> str:
    if approval.status == TradeApproval.Status.REFUSED:
        return f"Approved, but the order was refused: {approval.outcome_note}"
    return f"Entry #{approval.pk} {DONE[verdict]}."


@login_required
@require_POST
def bot_approval_rules_view(request, pk):
    bot = get_object_or_404(Bot.objects.owned_by(request.user), pk=pk)
    try:
        bot_approval_rules(bot=bot, **_rules(request.POST))
        messages.success(request, "Approval rules saved.")
    except (BotRefused, ValueError) as refused:
        messages.error(request, f"Approval rules not saved: {refused}")
    return redirect("bots:detail", pk=bot.pk)


def _rules(data) -> dict:
    """The form's three fields; empty thresholds mean none. ValueError in words."""
    try:
        above = data.get("approval_above_quote", "").strip()
        below = data.get("approval_below_confidence", "").strip()
        return {"above_quote": Decimal(above) if above else None,
                "below_confidence": float(below) if below else None,
                "minutes": int(data.get("approval_minutes") or 15)}
    except (InvalidOperation, ValueError):
        raise ValueError("the thresholds are numbers and the minutes a whole number") from None
