"""The trader's bot pages: list, create, edit, the bot's page (status and controls, parameters,
chart with its fills, decision log) and the controls themselves.

Every query starts from `request.user` (`Bot.objects.owned_by`): anyone else's bot is a 404.
The form validates, a service acts, the page or the one partial an event refreshes renders.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Subquery
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bots import window
from bots.approval_views import approvals_context
from bots.forms import SIZING_SETTINGS, BotForm
from bots.models import AISymbolAnalysis, Bot, BotDecision, TradeApproval
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
from bots.strategies.builtin.ai_combined import (
    ADVISOR_ACTION,
    ADVISOR_CONFIDENCE,
    ANALYSIS_ID,
    SENTIMENT,
)
from marketdata.charts import chart_data
from marketdata.exchange.errors import ExchangeError
from marketdata.klines import Interval
from marketdata.symbol_rules import rules_for
from orders.models import Fill, Order
from orders.services import OrderRefused
from portfolios.models import Portfolio

S = Bot.Status
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DECISIONS_PER_PAGE = 50
CHART_CANDLES = 300
MARKER_FILLS = 500
# Which statuses each control applies to; anything else is refused in words.
DONE = {"start": "Bot started.", "pause": "Bot paused.", "resume": "Bot resumed.",
        "stop": "Bot stopped."}


def _owned(request, pk) -> Bot:
    return get_object_or_404(Bot.objects.owned_by(request.user).select_related("portfolio"),
                             pk=pk)


def _is_htmx(request) -> bool:
    return bool(request.headers.get("HX-Request"))


# --- the bots table (bots list, dashboard, portfolio page) ---------------------------------

def _with_last_decision(bots):
    latest = BotDecision.objects.filter(bot=OuterRef("pk")).order_by("-candle_open_time")
    return bots.annotate(last_outcome=Subquery(latest.values("outcome")[:1]),
                         last_decided_at=Subquery(latest.values("decided_at")[:1]))


def bots_table_context(user, *, portfolio: Portfolio | None = None) -> dict:
    """The trader's bots (of one portfolio, or all) with their last decision."""
    bots = _with_last_decision(Bot.objects.owned_by(user).select_related("portfolio"))
    url = reverse("bots:table")
    if portfolio is not None:
        bots = bots.filter(portfolio=portfolio)
        url += f"?portfolio={portfolio.pk}"
    return {"bots": bots, "bots_table_url": url, "bots_portfolio": portfolio}


@login_required
@require_GET
def bots_table(request):
    portfolio = None
    if request.GET.get("portfolio"):
        wanted = request.GET["portfolio"]
        portfolio = get_object_or_404(Portfolio.objects.owned_by(request.user),
                                      pk=int(wanted) if wanted.isdigit() else -1)
    return render(request, "bots/partials/table.html",
                  bots_table_context(request.user, portfolio=portfolio))


@login_required
@require_GET
def bot_list(request):
    return render(request, "bots/list.html", bots_table_context(request.user))


# --- the bot's page ----------------------------------------------------------------------

def _status(bot: Bot, problem: str | None = None) -> dict:
    rules = rules_for(bot.market, bot.symbol)
    position = window.bot_position(bot) if rules else None
    return {"bot": bot, "position": position, "problem": problem,
            "base_asset": rules.base_asset if rules else ""}


def _decisions(bot: Bot, page_number=None) -> dict:
    page = Paginator(bot.decisions.all(), DECISIONS_PER_PAGE).get_page(page_number)
    ids = [a["order"] for d in page for a in d.actions if a.get("order")]
    orders = {o.client_order_id: o for o in Order.objects.filter(bot=bot,
                                                                 client_order_id__in=ids)}
    waiting = {a.pk: a for a in TradeApproval.objects.filter(
        bot=bot, pk__in=[a["approval"] for d in page for a in d.actions if a.get("approval")])}
    analyses = _analyses_read(page)
    rows = [{"decision": d, "ai": _ai_inputs(d.inputs, analyses),
             "actions": [{**a, "placed": orders.get(a.get("order")),
                          "waiting": waiting.get(a.get("approval"))} for a in d.actions]}
            for d in page]
    url = reverse("bots:partial", args=[bot.pk, "decisions"])
    if page.number > 1:
        url += f"?page={page.number}"
    return {"bot": bot, "page": page, "decision_rows": rows, "decisions_url": url}


def _analyses_read(decisions) -> dict[int, AISymbolAnalysis]:
    ids = {int(d.inputs[ANALYSIS_ID]) for d in decisions if d.inputs.get(ANALYSIS_ID)}
    return AISymbolAnalysis.objects.select_related("advisor").in_bulk(ids)


def _ai_inputs(inputs: dict, analyses: dict) -> dict | None:
    """What an AI strategy read on the candle: the technical score, the sentiment, the LLM
    advisor's answer and the combined score (None for other strategies)."""
    if "ai_score" not in inputs:
        return None
    analysis = analyses.get(int(inputs[ANALYSIS_ID])) if inputs.get(ANALYSIS_ID) else None
    return {"technical": inputs.get("technical_score"), "sentiment": inputs.get(SENTIMENT),
            "advisor_action": inputs.get(ADVISOR_ACTION),
            "advisor_confidence": inputs.get(ADVISOR_CONFIDENCE),
            "combined": inputs.get("ai_score"), "confidence": inputs.get("ai_confidence"),
            "analysis": analysis, "advisor": analysis.advisor if analysis else None}


def _parameters(bot: Bot) -> dict:
    try:
        info = describe(bot.strategy)
    except KeyError:
        info = {"title": bot.strategy, "description": "This strategy is no longer installed.",
                "parameters": []}
    helps = {p["name"]: p["help"] for p in info["parameters"]}
    rows = [(name, value, helps.get(name, "")) for name, value in bot.params.items()]
    _field, key = SIZING_SETTINGS.get(bot.sizing, (None, None))
    return {"strategy_info": info, "parameter_rows": rows,
            "sizing_setting": bot.sizing_config.get(key) if key else None}


@login_required
@require_GET
def bot_detail(request, pk):
    bot = _owned(request, pk)
    context = {**_status(bot), **_decisions(bot, request.GET.get("page")), **_parameters(bot),
               **approvals_context(request.user, bot=bot)}
    return render(request, "bots/detail.html", context)


@login_required
@require_GET
def bot_partial(request, pk, name):
    bot = _owned(request, pk)
    if name == "status":
        return render(request, "bots/partials/status.html", _status(bot))
    if name == "decisions":
        return render(request, "bots/partials/decisions.html",
                      _decisions(bot, request.GET.get("page")))
    raise Http404("no such partial")


def _candle_time(interval: Interval, moment: datetime) -> int:
    micros = (moment - EPOCH) // timedelta(microseconds=1)
    return interval.floor(micros) // 1_000_000


def fill_markers(bot: Bot) -> list[dict]:
    """One arrow per order and candle: buys below the bar, sells above, at the candle the
    fills fell in (the chart snaps a marker past its last candle to the nearest one)."""
    interval = Interval(bot.interval)
    fills = (Fill.objects.filter(order__bot=bot).select_related("order")
             .order_by("-executed_at", "-trade_id")[:MARKER_FILLS])
    grouped = defaultdict(lambda: {"quantity": Decimal(0), "quote": Decimal(0)})
    for fill in fills:
        group = grouped[(_candle_time(interval, fill.executed_at), fill.order_id)]
        group.update(order=fill.order, side=fill.side)
        group["quantity"] += fill.quantity
        group["quote"] += fill.quote_quantity
    markers = []
    for (time, order_id), group in sorted(grouped.items()):
        buy = group["side"] == "BUY"
        price = group["quote"] / group["quantity"] if group["quantity"] else Decimal(0)
        markers.append({
            "time": time, "position": "belowBar" if buy else "aboveBar",
            "shape": "arrowUp" if buy else "arrowDown", "color": "#2ebd85" if buy else "#f6465d",
            "text": f"{group['order'].tag or group['side'].lower()} {price:.2f}",
            "id": str(order_id), "side": group["side"], "price": f"{price:f}",
            "quantity": f"{group['quantity'].normalize():f}"})
    return markers


@login_required
@require_GET
def bot_chart_data(request, pk):
    bot = _owned(request, pk)
    data = chart_data(market=bot.market, symbol=bot.symbol, interval=bot.interval,
                      limit=CHART_CANDLES)
    return JsonResponse({"candles": data["candles"], "markers": fill_markers(bot)})


# --- controls ----------------------------------------------------------------------------

def _act(bot: Bot, action: str, *, close_position: bool) -> str | None:
    """Carry out one control; what went wrong, in words, or None."""
    try:
        if action == "start":
            bot_start(bot=bot)
        elif action == "pause":
            bot_pause(bot=bot)
        elif action == "resume":
            bot_resume(bot=bot)
        else:
            bot_stop(bot=bot, close_position=close_position)
    except BotRefused as refused:
        return refused.errors.get("status") or f"The bot cannot start: {refused}."
    except OrderRefused as refused:
        return f"The bot stopped, but its position was not closed: {refused}"
    except ExchangeError as error:
        return f"The bot stopped, but closing its position failed at Binance: {error}"
    return None


def _next_page(request, bot: Bot) -> str:
    wanted = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return wanted
    return reverse("bots:detail", args=[bot.pk])


@login_required
@require_POST
def bot_control(request, pk, action):
    bot = _owned(request, pk)
    problem = _act(bot, action, close_position=request.POST.get("close_position") == "1")
    bot.refresh_from_db()
    if not _is_htmx(request):
        if problem:
            messages.error(request, problem)
        else:
            messages.success(request, DONE[action])
        return redirect(_next_page(request, bot))
    if request.POST.get("view") == "row":
        row = _with_last_decision(Bot.objects.filter(pk=bot.pk).select_related("portfolio"))
        return render(request, "bots/partials/row.html", {"bot": row.get(), "problem": problem,
                                                          "next": request.POST.get("next")})
    return render(request, "bots/partials/status.html", _status(bot, problem))


@login_required
@require_GET
def bot_close_confirm(request, pk):
    """Stopping and selling what the bot holds asks first (pages without JavaScript)."""
    bot = _owned(request, pk)
    return render(request, "bots/close_confirm.html", _status(bot))


# --- create and edit -----------------------------------------------------------------------

def _form_page(request, form, bot=None, status=200):
    return render(request, "bots/form.html", {"form": form, "bot": bot}, status=status)


@login_required
@require_GET
def bot_parameters(request):
    """The parameter fields of the strategy chosen on the form (HTMX swaps them in)."""
    strategy = request.GET.get("strategy", "")
    if strategy not in available():
        raise Http404("no such strategy")
    bot = None
    if request.GET.get("bot", "").isdigit():
        bot = _owned(request, int(request.GET["bot"]))
    form = BotForm(user=request.user, bot=bot, strategy=strategy)
    return render(request, "bots/partials/parameters.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def bot_create_view(request):
    if request.method == "GET":
        form = BotForm(user=request.user)
        if request.GET.get("portfolio", "").isdigit():  # "New bot" on a portfolio's page
            form.initial["portfolio"] = int(request.GET["portfolio"])
        return _form_page(request, form)
    form = BotForm(request.POST, user=request.user)
    if not form.is_valid():
        return _form_page(request, form, status=400)
    try:
        bot = bot_create(**form.bot_fields())
    except BotRefused as refused:
        form.add_refusal(refused)
        return _form_page(request, form, status=400)
    messages.success(request, f"Bot {bot.name} created: start it when you are ready.")
    return redirect("bots:detail", pk=bot.pk)


@login_required
@require_http_methods(["GET", "POST"])
def bot_edit(request, pk):
    bot = _owned(request, pk)
    if bot.status != S.STOPPED:
        return render(request, "bots/form.html", {"bot": bot, "locked": True},
                      status=409 if request.method == "POST" else 200)
    if request.method == "GET":
        return _form_page(request, BotForm(user=request.user, bot=bot), bot)
    form = BotForm(request.POST, user=request.user, bot=bot)
    if not form.is_valid():
        return _form_page(request, form, bot, status=400)
    try:
        bot_update(bot=bot, **form.bot_fields())
    except BotRefused:  # started meanwhile (another tab, the API)
        return render(request, "bots/form.html", {"bot": bot, "locked": True}, status=409)
    messages.success(request, "Bot saved.")
    return redirect("bots:detail", pk=bot.pk)
