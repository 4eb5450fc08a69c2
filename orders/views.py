"""The trader's order pages: a ticket, open orders, history, fills and positions.

Every query starts from `request.user`. A view renders the whole page, or for an HTMX request
the one partial it refreshes; the tables are rendered from the API serializers, so the page
and the API show the same numbers the same way.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from marketdata.exchange.errors import ExchangeError
from orders.forms import OrderTicketForm
from orders.models import TERMINAL_STATUSES, Fill, Order, OrderStatus, Position
from orders.serializers import FillSerializer, OrderSerializer, PositionSerializer
from orders.services import OrderRefused, order_cancel, order_place

RECENT = 50


def _open_orders(user) -> dict:
    orders = Order.objects.owned_by(user).open().select_related("portfolio")
    return {"open_orders": OrderSerializer(orders, many=True).data}


def _history(user) -> dict:
    orders = (Order.objects.owned_by(user).filter(status__in=TERMINAL_STATUSES)
              .select_related("portfolio")[:RECENT])
    return {"history": OrderSerializer(orders, many=True).data}


def _fills(user) -> dict:
    fills = (Fill.objects.filter(order__portfolio__owner=user).select_related("order")
             .order_by("-executed_at", "-trade_id")[:RECENT])
    return {"fills": FillSerializer(fills, many=True).data}


def _positions(user) -> dict:
    positions = (Position.objects.filter(portfolio__owner=user).select_related("portfolio")
                 .exclude(quantity=0, realised_pnl=0))
    return {"positions": PositionSerializer(positions, many=True).data}


PARTIALS = {
    "open": ("orders/partials/open_orders.html", _open_orders),
    "history": ("orders/partials/history.html", _history),
    "fills": ("orders/partials/fills.html", _fills),
    "positions": ("orders/partials/positions.html", _positions),
}


def _page_context(user, form) -> dict:
    context = {"form": form}
    for _template, build in PARTIALS.values():
        context.update(build(user))
    return context


@login_required
@require_GET
def orders_page(request):
    form = OrderTicketForm(user=request.user)
    return render(request, "orders/page.html", _page_context(request.user, form))


@login_required
@require_GET
def orders_partial(request, name):
    if name not in PARTIALS:
        raise Http404("no such partial")
    template, build = PARTIALS[name]
    return render(request, template, build(request.user))


def _place(form) -> str | None:
    """Place the ticket's order; the reason it was not accepted, in words, or None."""
    try:
        order = order_place(**form.service_fields())
    except OrderRefused as refused:
        return str(refused)
    except ExchangeError as error:
        return f"Binance: {error}"
    if order.status == OrderStatus.REJECTED:
        return f"Binance rejected the order: {order.reason}"
    return None


@login_required
@require_POST
def order_place_view(request):
    form = OrderTicketForm(request.POST, user=request.user)
    problem = _place(form) if form.is_valid() else None
    if problem:
        form.add_error(None, problem)
    placed = form.is_valid() and not problem
    if not request.headers.get("HX-Request"):
        if placed:
            messages.success(request, "Order placed.")
            return redirect("orders:page")
        return render(request, "orders/page.html", _page_context(request.user, form), status=400)
    ticket = OrderTicketForm(user=request.user, initial=_kept(form)) if placed else form
    context = {"form": ticket, "placed": placed, **_open_orders(request.user)}
    return render(request, "orders/partials/ticket_response.html", context)


def _kept(form) -> dict:
    """After a placement the ticket keeps its portfolio, symbol, side and type, not amounts."""
    return {key: form.cleaned_data[key] for key in ("portfolio", "symbol", "side", "type")}


@login_required
@require_POST
def order_cancel_view(request, pk):
    order = get_object_or_404(Order.objects.owned_by(request.user), pk=pk)
    problem = None
    if not order.is_terminal:
        try:
            order_cancel(order=order)
        except ExchangeError as error:
            problem = f"Binance: {error}"
    if not request.headers.get("HX-Request"):
        if problem:
            messages.error(request, problem)
        return redirect("orders:page")
    context = {**_open_orders(request.user), "problem": problem}
    return render(request, "orders/partials/open_orders.html", context)


@login_required
@require_GET
def order_detail(request, pk):
    order = get_object_or_404(Order.objects.owned_by(request.user).select_related("portfolio"),
                              pk=pk)
    context = {"order": OrderSerializer(order).data,
               "fills": FillSerializer(order.fills.all(), many=True).data,
               "cancellable": not order.is_terminal}
    return render(request, "orders/detail.html", context)
