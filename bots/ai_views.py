"""The AI analysis pages: every analysed symbol; one symbol's latest analysis with its score
history, the sentiment items of the last 48 hours and a notes form; and the advisor's
conversation (every call, as sent and as answered).

Analyses, technical records, advisor calls and news are shared market data, like candles:
every logged-in trader reads them. A manual note's text and score are shared too, but who
wrote it is shown only to staff and to its author.
"""

import re
from collections import Counter
from decimal import Decimal, InvalidOperation
from functools import reduce
from operator import or_

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Max, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from bots.ai import SENTIMENT_WINDOW, AnalysisRefused, note_add
from bots.ai_forms import NoteForm
from bots.models import AdvisorCall, AISymbolAnalysis, SentimentItem
from bots.strategies.wording import number

MARKETS = ("spot", "futures")
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9]{2,30}$")  # what the WebSocket accepts to subscribe
HISTORY_POINTS = 200
CALLS_PER_PAGE = 20
ITEMS_SHOWN = 100
NOTES_SHOWN = 20
PRICES = ("close", "sma_20", "sma_50", "ema_12", "ema_26", "macd", "macd_signal",
          "macd_histogram", "atr", "volume", "volume_average", "stop_loss", "take_profit")
SOURCES = SentimentItem.Source


def _symbol(raw: str) -> str:
    symbol = raw.strip().upper()
    if not SYMBOL_PATTERN.match(symbol):
        raise Http404("not a symbol")
    return symbol


def _market(raw: str | None) -> str:
    market = raw or "spot"
    if market not in MARKETS:
        raise Http404("unknown market")
    return market


def _is_htmx(request) -> bool:
    return bool(request.headers.get("HX-Request"))


def symbol_url(symbol: str, market: str = "spot", name: str = "symbol") -> str:
    url = reverse(f"ai:{name}", args=[symbol])
    return url if market == "spot" else f"{url}?market={market}"


def _newest_first(analyses):
    # Two analyses at one close (a re-run): the last stored is the latest.
    return analyses.order_by("-as_of", "-pk")


# --- every analysed symbol -----------------------------------------------------------------

def _latest_per_symbol() -> list[AISymbolAnalysis]:
    newest = (AISymbolAnalysis.objects.order_by().values("market", "symbol")
              .annotate(latest=Max("as_of")))
    if not newest:
        return []
    wanted = reduce(or_, (Q(market=row["market"], symbol=row["symbol"], as_of=row["latest"])
                          for row in newest))
    rows = AISymbolAnalysis.objects.filter(wanted).select_related("advisor")
    latest: dict[tuple[str, str], AISymbolAnalysis] = {}
    for row in _newest_first(rows):
        latest.setdefault((row.symbol, row.market), row)
    return [latest[key] for key in sorted(latest)]


def _schedule() -> dict:
    """How often the beat analyses the watched symbols, and which candles (the empty states
    tell a trader how analyses come about)."""
    beat = settings.CELERY_BEAT_SCHEDULE.get("ai-analyse-watched", {})
    return {"minutes": beat.get("schedule", 600) / 60,
            "interval": settings.AI_ANALYSIS_INTERVAL}


@login_required
@require_GET
def index(request):
    rows = [{"analysis": row, "url": symbol_url(row.symbol, row.market)}
            for row in _latest_per_symbol()]
    return render(request, "ai/index.html", {"rows": rows, "schedule": _schedule()})


# --- one symbol: the latest analysis -------------------------------------------------------

def _figure(value) -> str | None:
    """A stored Decimal string as people read it ("43210.5", "0.00002854")."""
    if value in (None, ""):
        return None
    try:
        return number(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)


def _rsi(value) -> str | None:
    return None if value in (None, "") else f"{float(value):.1f}"


def _volume_ratio(data: dict) -> float | None:
    try:
        volume, average = Decimal(str(data["volume"])), Decimal(str(data["volume_average"]))
    except (KeyError, InvalidOperation, TypeError):
        return None
    return float(volume / average) if average else None


def _technical(record) -> dict | None:
    """The figures of a stored TechnicalAnalysis; missing keys read as unknown, not a 500."""
    if record is None:
        return None
    data = record.data or {}
    fibonacci = sorted((data.get("fibonacci") or {}).items(), key=lambda kv: float(kv[0]))
    return {
        **{name: _figure(data.get(name)) for name in PRICES},
        "rsi": _rsi(data.get("rsi")),
        "volume_ratio": _volume_ratio(data),
        "trend": data.get("trend") or record.trend, "strength": data.get("strength"),
        "supports": [_figure(p) for p in data.get("supports") or []],
        "resistances": [_figure(p) for p in data.get("resistances") or []],
        "fibonacci": [(ratio, _figure(price)) for ratio, price in fibonacci],
        "reasons": data.get("reasons") or [], "record": record,
    }


def _per_source(analysis: AISymbolAnalysis) -> list[dict]:
    counts = Counter(item.get("source") for item in analysis.sources or [])
    scores = analysis.per_source or {}
    return [{"source": source.value, "label": source.label, "score": scores.get(source.value),
             "count": counts[source.value]} for source in SOURCES]


def _latest_context(symbol: str, market: str) -> dict:
    analysis = _newest_first(AISymbolAnalysis.objects.filter(market=market, symbol=symbol)
                             .select_related("technical", "advisor")).first()
    context = {"symbol": symbol, "market": market, "analysis": analysis,
               "latest_url": symbol_url(symbol, market, "latest"),
               "schedule": _schedule()}
    if analysis is not None:
        context |= {"technical": _technical(analysis.technical),
                    "per_source": _per_source(analysis)}
    return context


def _history(symbol: str, market: str) -> dict:
    """The scores of the last analyses, oldest first, one point per close (for the chart)."""
    rows = list(_newest_first(AISymbolAnalysis.objects.filter(market=market, symbol=symbol))
                .values_list("as_of", "combined_score", "technical_score",
                             "sentiment_score")[:HISTORY_POINTS])
    points = {int(as_of.timestamp()): scores for as_of, *scores in reversed(rows)}
    return {name: [{"time": time, "value": round(scores[n], 4)}
                   for time, scores in points.items()]
            for n, name in enumerate(("combined", "technical", "sentiment"))}


def _author_shown(user, item: SentimentItem):
    if item.author_id and (user.is_staff or item.author_id == user.pk):
        return item.author
    return None


def _item_rows(user, items) -> list[dict]:
    return [{"item": item, "author": _author_shown(user, item)} for item in items]


def _notes_context(user, symbol: str, market: str, form: NoteForm, added: bool = False) -> dict:
    notes = (SentimentItem.objects.about(symbol).filter(source=SOURCES.MANUAL)
             .select_related("author")[:NOTES_SHOWN])
    return {"symbol": symbol, "market": market, "form": form, "added": added,
            "notes": _item_rows(user, notes)}


def _symbol_context(user, symbol: str, market: str, form: NoteForm) -> dict:
    since = timezone.now() - SENTIMENT_WINDOW
    items = (SentimentItem.objects.about(symbol).filter(published_at__gt=since)
             .select_related("author", "feed")[:ITEMS_SHOWN])
    return {**_latest_context(symbol, market), **_notes_context(user, symbol, market, form),
            "history": _history(symbol, market), "items": _item_rows(user, items),
            "markets": MARKETS,
            "conversation_url": symbol_url(symbol, market, "conversation")}


@login_required
@require_GET
def symbol_page(request, symbol):
    symbol, market = _symbol(symbol), _market(request.GET.get("market"))
    return render(request, "ai/symbol.html",
                  _symbol_context(request.user, symbol, market, NoteForm()))


@login_required
@require_GET
def latest_partial(request, symbol):
    symbol, market = _symbol(symbol), _market(request.GET.get("market"))
    return render(request, "ai/partials/latest.html", _latest_context(symbol, market))


# --- one symbol: a trader's note -----------------------------------------------------------

def _add_note(form: NoteForm, author, symbol: str) -> bool:
    if not form.is_valid():
        return False
    try:
        note_add(author=author, symbol=symbol, text=form.cleaned_data["text"],
                 score=form.cleaned_data["score"])
    except AnalysisRefused as refused:
        form.add_refusal(refused)
        return False
    return True


@login_required
@require_POST
def note_add_view(request, symbol):
    symbol, market = _symbol(symbol), _market(request.POST.get("market"))
    form = NoteForm(request.POST)
    added = _add_note(form, request.user, symbol)
    if not _is_htmx(request):
        if added:
            messages.success(request, f"Note on {symbol} added: the next analysis reads it.")
            return redirect(symbol_url(symbol, market))
        return render(request, "ai/symbol.html",
                      _symbol_context(request.user, symbol, market, form), status=400)
    return render(request, "ai/partials/notes.html",
                  _notes_context(request.user, symbol, market, NoteForm() if added else form,
                                 added=added))


# --- the advisor's conversation --------------------------------------------------------------

@login_required
@require_GET
def conversation(request, symbol):
    symbol, market = _symbol(symbol), _market(request.GET.get("market"))
    calls = AdvisorCall.objects.filter(symbol=symbol).order_by("-created_at", "-pk")
    page = Paginator(calls, CALLS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "ai/conversation.html",
                  {"symbol": symbol, "market": market, "page": page,
                   "symbol_url": symbol_url(symbol, market)})


@login_required
@require_GET
def call_detail(request, pk):
    call = get_object_or_404(AdvisorCall, pk=pk)
    analysis = call.analyses.order_by("-as_of", "-pk").first()
    market = analysis.market if analysis else "spot"
    return render(request, "ai/call.html",
                  {"call": call, "analysis": analysis, "symbol": call.symbol,
                   "symbol_url": symbol_url(call.symbol, market),
                   "conversation_url": symbol_url(call.symbol, market, "conversation")})
