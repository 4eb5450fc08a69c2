"""Pre-trade checks: every limit's approve / reduce / reject, with the amount and the words."""

from dataclasses import replace
from decimal import Decimal

import pytest

from risk.rules import AccountState, Intent, Limits, check, correlated_symbols, correlation

D = Decimal

STATE = AccountState(
    equity=D(10000), equity_peak=D(10000), day_start_equity=D(10000), free_balance=D(10000),
)


def state(**changes):
    return replace(STATE, **changes)


def buy(notional, symbol="BTCUSDT", **kw):
    return Intent(symbol, "buy", D(notional), **kw)


def sell(notional, symbol="BTCUSDT", **kw):
    return Intent(symbol, "sell", D(notional), **kw)


CASES = [
    # (id, limits, state, intent, action, notional, rule, message)
    ("order-notional-fits", Limits(max_order_notional=D(2000)), STATE, buy(1500),
     "approve", "1500", "", "buy of 1500 USDT on BTCUSDT is within every limit"),
    ("order-notional-exactly-at-limit", Limits(max_order_notional=D(1500)), STATE, buy(1500),
     "approve", "1500", "", "buy of 1500 USDT on BTCUSDT is within every limit"),
    ("order-notional-reduces", Limits(max_order_notional=D(1000)), STATE, buy(1500),
     "reduce", "1000", "max_order_notional",
     "max order notional is 1000 USDT, so this buy was reduced from 1500 to 1000"),
    ("position-notional-reduces", Limits(max_position_notional=D(5000)),
     state(positions={"BTCUSDT": D(4200)}), buy(1500),
     "reduce", "800", "max_position_notional",
     "max position notional for BTCUSDT is 5000 USDT; 4200 is held, "
     "so this buy was reduced from 1500 to 800"),
    ("position-notional-full-rejects", Limits(max_position_notional=D(5000)),
     state(positions={"BTCUSDT": D(5000)}), buy(1500),
     "reject", "0", "max_position_notional",
     "max position notional for BTCUSDT is 5000 USDT; 5000 is held, "
     "so this buy of 1500 was rejected"),
    ("position-notional-short-adds-reduces", Limits(max_position_notional=D(5000)),
     state(positions={"BTCUSDT": D(-4200)}), sell(1500),
     "reduce", "800", "max_position_notional",
     "max position notional for BTCUSDT is 5000 USDT; -4200 is held, "
     "so this sell was reduced from 1500 to 800"),
    ("position-notional-other-symbol-ignored", Limits(max_position_notional=D(5000)),
     state(positions={"ETHUSDT": D(5000)}), buy(1500),
     "approve", "1500", "", "buy of 1500 USDT on BTCUSDT is within every limit"),
    ("position-notional-unflagged-sell-that-shrinks-a-long",
     Limits(max_position_notional=D(5000)), state(positions={"BTCUSDT": D(6000)}), sell(1500),
     "approve", "1500", "", "sell of 1500 USDT on BTCUSDT is within every limit"),
    ("position-notional-sell-that-flips-too-far", Limits(max_position_notional=D(5000)),
     state(positions={"BTCUSDT": D(1000)}), sell(7000),
     "reduce", "6000", "max_position_notional",
     "max position notional for BTCUSDT is 5000 USDT; 1000 is held, "
     "so this sell was reduced from 7000 to 6000"),
    ("open-positions-reached-new-symbol", Limits(max_open_positions=2),
     state(positions={"BTCUSDT": D(1000), "ETHUSDT": D(-1000)}), buy(500, "SOLUSDT"),
     "reject", "0", "max_open_positions",
     "max open positions is 2; 2 are open (BTCUSDT, ETHUSDT) and SOLUSDT is not one of them, "
     "so this buy of 500 was rejected"),
    ("open-positions-reached-adding-to-held", Limits(max_open_positions=2),
     state(positions={"BTCUSDT": D(1000), "ETHUSDT": D(-1000)}), buy(500),
     "approve", "500", "", "buy of 500 USDT on BTCUSDT is within every limit"),
    ("open-positions-flat-entries-do-not-count", Limits(max_open_positions=2),
     state(positions={"BTCUSDT": D(1000), "ETHUSDT": D(0)}), buy(500, "SOLUSDT"),
     "approve", "500", "", "buy of 500 USDT on SOLUSDT is within every limit"),
    ("total-exposure-reduces", Limits(max_total_exposure=D(20000)),
     state(positions={"BTCUSDT": D(10000), "ETHUSDT": D(-8500)}), buy(3000, "SOLUSDT"),
     "reduce", "1500", "max_total_exposure",
     "max total exposure is 20000 USDT; 18500 is open across all symbols, "
     "so this buy was reduced from 3000 to 1500"),
    ("total-exposure-full-rejects", Limits(max_total_exposure=D(20000)),
     state(positions={"BTCUSDT": D(10000), "ETHUSDT": D(-10000)}), buy(3000, "SOLUSDT"),
     "reject", "0", "max_total_exposure",
     "max total exposure is 20000 USDT; 20000 is open across all symbols, "
     "so this buy of 3000 was rejected"),
    ("leverage-above-rejects", Limits(max_leverage=D(3)), STATE, buy(1500, leverage=D(5)),
     "reject", "0", "max_leverage",
     "max leverage is 3x; this buy asks for 5x, so this buy of 1500 was rejected"),
    ("leverage-exactly-at-limit", Limits(max_leverage=D(3)), STATE, buy(1500, leverage=D(3)),
     "approve", "1500", "", "buy of 1500 USDT on BTCUSDT is within every limit"),
    ("orders-per-minute-reached", Limits(max_orders_per_minute=10),
     state(orders_last_minute=10), buy(1500),
     "reject", "0", "max_orders_per_minute",
     "max orders per minute is 10; 10 were sent in the last minute, "
     "so this buy of 1500 was rejected"),
    ("orders-per-minute-one-left", Limits(max_orders_per_minute=10),
     state(orders_last_minute=9), buy(1500),
     "approve", "1500", "", "buy of 1500 USDT on BTCUSDT is within every limit"),
    ("daily-loss-reached", Limits(max_daily_loss=D(500)), state(equity=D(9500)), buy(1500),
     "reject", "0", "max_daily_loss",
     "max daily loss is 500 USDT; 500 has been lost today (10000 at the day's start, "
     "9500 now), so this buy of 1500 was rejected"),
    ("daily-loss-just-below", Limits(max_daily_loss=D(500)), state(equity=D("9500.01")),
     buy(1500), "approve", "1500", "", "buy of 1500 USDT on BTCUSDT is within every limit"),
    ("daily-loss-pct-beyond", Limits(max_daily_loss_pct=D(5)), state(equity=D(9380)),
     buy(1500), "reject", "0", "max_daily_loss_pct",
     "max daily loss is 5% of the day's starting equity (500 of 10000 USDT); 6.2% (620) has "
     "been lost today, so this buy of 1500 was rejected"),
    ("daily-loss-pct-exactly-reached", Limits(max_daily_loss_pct=D(5)), state(equity=D(9500)),
     buy(1500), "reject", "0", "max_daily_loss_pct",
     "max daily loss is 5% of the day's starting equity (500 of 10000 USDT); 5% (500) has "
     "been lost today, so this buy of 1500 was rejected"),
    ("daily-loss-pct-below", Limits(max_daily_loss_pct=D(5)), state(equity=D(9510)),
     buy(1500), "approve", "1500", "", "buy of 1500 USDT on BTCUSDT is within every limit"),
    ("daily-loss-pct-after-a-gain", Limits(max_daily_loss_pct=D(5)), state(equity=D(11000)),
     buy(1500), "approve", "1500", "", "buy of 1500 USDT on BTCUSDT is within every limit"),
    ("drawdown-beyond", Limits(max_drawdown_pct=D(10)),
     state(equity_peak=D(12000), equity=D(10500)), buy(1500),
     "reject", "0", "max_drawdown_pct",
     "max drawdown is 10% from the equity peak of 12000 USDT; equity is 10500, 12.5% below "
     "it, so this buy of 1500 was rejected"),
    ("drawdown-exactly-at-max", Limits(max_drawdown_pct=D(10)),
     state(equity_peak=D(12000), equity=D(10800)), buy(1500),
     "approve", "1500", "", "buy of 1500 USDT on BTCUSDT is within every limit"),
    ("free-balance-reduces", Limits(min_free_balance=D(1000)), state(free_balance=D(1500)),
     buy(800), "reduce", "500", "min_free_balance",
     "min free balance is 1000 USDT; 1500 is free, so this buy was reduced from 800 to 500"),
    ("free-balance-exactly-fits", Limits(min_free_balance=D(1000)), state(free_balance=D(1500)),
     buy(500), "approve", "500", "", "buy of 500 USDT on BTCUSDT is within every limit"),
    ("free-balance-at-min-rejects", Limits(min_free_balance=D(1000)),
     state(free_balance=D(1000)), buy(800), "reject", "0", "min_free_balance",
     "min free balance is 1000 USDT; 1000 is free, so this buy of 800 was rejected"),
    ("free-balance-below-min-rejects", Limits(min_free_balance=D(1000)),
     state(free_balance=D(900)), buy(800), "reject", "0", "min_free_balance",
     "min free balance is 1000 USDT; 900 is free, so this buy of 800 was rejected"),
    ("free-balance-with-leverage", Limits(min_free_balance=D(1000)),
     state(free_balance=D(1500)), buy(3000, leverage=D(5)), "reduce", "2500",
     "min_free_balance",
     "min free balance is 1000 USDT; 1500 is free and leverage is 5x, "
     "so this buy was reduced from 3000 to 2500"),
    ("no-limits", Limits(), STATE, buy(1500),
     "approve", "1500", "", "buy of 1500 USDT on BTCUSDT is within every limit"),
]


@pytest.mark.parametrize(
    ("limits", "account", "intent", "action", "notional", "rule", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_each_limit(limits, account, intent, action, notional, rule, message):
    verdict = check(intent, account, limits)
    assert (verdict.action, verdict.notional, verdict.rule) == (action, D(notional), rule)
    assert verdict.message == message
    assert verdict.binding == ((rule,) if rule else ())


def test_the_smallest_cap_decides_and_every_binding_rule_is_listed():
    limits = Limits(max_order_notional=D(1000), max_position_notional=D(5000),
                    max_total_exposure=D(50000))
    verdict = check(buy(1500), state(positions={"BTCUSDT": D(4200)}), limits)
    assert (verdict.action, verdict.notional, verdict.rule) == (
        "reduce", D(800), "max_position_notional")
    assert verdict.binding == ("max_order_notional", "max_position_notional")


def test_a_hard_stop_rejects_even_when_a_size_limit_also_binds():
    limits = Limits(max_order_notional=D(1000), max_daily_loss=D(100))
    verdict = check(buy(1500), state(equity=D(9000)), limits)
    assert (verdict.action, verdict.notional, verdict.rule) == ("reject", D(0), "max_daily_loss")
    assert verdict.binding == ("max_daily_loss", "max_order_notional")
    assert verdict.message.startswith("max daily loss is 100 USDT; 1000 has been lost today")


def test_messages_name_the_quote_asset():
    verdict = check(buy(1500), STATE, Limits(max_order_notional=D(1000)), quote_asset="FDUSD")
    assert verdict.message == (
        "max order notional is 1000 FDUSD, so this buy was reduced from 1500 to 1000")


def test_messages_round_long_decimals():
    verdict = check(buy(1500), state(equity=D(9000), day_start_equity=D(9300)),
                    Limits(max_daily_loss_pct=D(3)))
    assert "3.23% (300) has been lost today" in verdict.message


# Exits are never blocked: each of these states breaches an entry limit.
BREACHED = [
    ("daily-loss", Limits(max_daily_loss=D(100)), state(equity=D(9000))),
    ("daily-loss-pct", Limits(max_daily_loss_pct=D(1)), state(equity=D(9000))),
    ("drawdown", Limits(max_drawdown_pct=D(5)), state(equity=D(9000))),
    ("orders-per-minute", Limits(max_orders_per_minute=1), state(orders_last_minute=5)),
    ("leverage", Limits(max_leverage=D(1)), STATE),
    ("open-positions", Limits(max_open_positions=1), state(positions={"ETHUSDT": D(100)})),
    ("order-notional", Limits(max_order_notional=D(10)), STATE),
    ("position-notional", Limits(max_position_notional=D(10)), STATE),
    ("total-exposure", Limits(max_total_exposure=D(10)), STATE),
    ("correlated-exposure", Limits(max_correlated_exposure=D(10)), STATE),
    ("free-balance", Limits(min_free_balance=D(50000)), STATE),
]


@pytest.mark.parametrize(
    ("limits", "account"), [pytest.param(*case[1:], id=case[0]) for case in BREACHED])
def test_exits_are_approved_under_breached_limits(limits, account):
    account = replace(account, positions={**account.positions, "BTCUSDT": D(20000)})
    intent = sell(1500, reduces_position=True, leverage=D(3))
    verdict = check(intent, account, limits)
    assert verdict == check(intent, account, Limits())
    assert (verdict.action, verdict.notional, verdict.rule, verdict.binding) == (
        "approve", D(1500), "", ())
    assert verdict.message == (
        "sell of 1500 USDT on BTCUSDT reduces a position, so no entry limit applies")
    # The same size as an entry on a new symbol is stopped.
    entry = Intent("SOLUSDT", "buy", D(1500), leverage=D(3))
    assert check(entry, account, limits).action != "approve"


# Merged scopes.

def test_merged_takes_the_tightest_value_of_each_field():
    global_ = Limits(max_order_notional=D(5000), max_open_positions=10,
                     min_free_balance=D(100), correlation_threshold=D("0.9"))
    user = Limits(max_order_notional=D(2000), max_leverage=D(5), min_free_balance=D(500))
    bot = Limits(max_order_notional=D(3000), max_leverage=D(2), max_open_positions=12,
                 correlation_threshold=D("0.7"))
    merged = Limits.merged(global_, user, bot)
    assert merged == Limits(max_order_notional=D(2000), max_open_positions=10,
                            max_leverage=D(2), min_free_balance=D(500),
                            correlation_threshold=D("0.7"))


def test_merged_of_nothing_is_no_limit():
    assert Limits.merged() == Limits()
    assert Limits.merged(Limits(), Limits()) == Limits()
    assert Limits().threshold == D("0.8")


def test_merged_scope_decides_the_check():
    symbol_scope = Limits(max_position_notional=D(1000))
    merged = Limits.merged(Limits(max_position_notional=D(5000)), symbol_scope)
    verdict = check(buy(1500), STATE, merged)
    assert (verdict.action, verdict.notional) == ("reduce", D(1000))
    assert verdict.message.startswith("max position notional for BTCUSDT is 1000 USDT")


def test_a_correlation_threshold_left_unset_does_not_override_another_scope():
    assert Limits.merged(Limits(correlation_threshold=D("0.9")), Limits()).threshold == D("0.9")


# Correlation.

BASE = [1.0, -1.0] * 10                       # 20 points
ORTHOGONAL = [1.0, 1.0, -1.0, -1.0] * 5       # correlation exactly 0 with BASE
SCALED = [2 * x + 0.5 for x in BASE]          # correlation 1
OPPOSITE = [-x for x in BASE]                 # correlation -1


@pytest.mark.parametrize(("a", "b", "expected"), [
    pytest.param(BASE, SCALED, 1.0, id="same-moves-scaled"),
    pytest.param(BASE, OPPOSITE, -1.0, id="opposite"),
    pytest.param(BASE, ORTHOGONAL, 0.0, id="unrelated"),
    pytest.param([5.0, -3.0, 9.0] + BASE, SCALED, 1.0, id="common-length-is-the-recent-tail"),
    pytest.param(BASE[:10], SCALED[:10], 1.0, id="exactly-10-points"),
])
def test_correlation(a, b, expected):
    assert correlation(a, b) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("a", "b"), [
    pytest.param(BASE[:9], SCALED[:9], id="9-points-too-few"),
    pytest.param(BASE, SCALED[:9], id="9-in-common"),
    pytest.param(BASE, [0.5] * 20, id="constant"),
    pytest.param(BASE, [], id="no-returns"),
])
def test_no_correlation(a, b):
    assert correlation(a, b) is None


CORRELATED = state(
    positions={"BTCUSDT": D(4000), "ETHUSDT": D(-3000), "LTCUSDT": D(2000),
               "XRPUSDT": D(5000), "DOGEUSDT": D(1000), "ADAUSDT": D(1000)},
    returns={"SOLUSDT": BASE, "BTCUSDT": SCALED, "ETHUSDT": BASE, "LTCUSDT": OPPOSITE,
             "XRPUSDT": ORTHOGONAL, "ADAUSDT": SCALED[:9]},
)


def test_correlated_symbols_are_the_held_ones_at_or_above_the_threshold():
    assert correlated_symbols("SOLUSDT", CORRELATED, D("0.8")) == ["BTCUSDT", "ETHUSDT"]
    assert correlated_symbols("SOLUSDT", CORRELATED, D(0)) == [
        "BTCUSDT", "ETHUSDT", "XRPUSDT"]
    assert correlated_symbols("BTCUSDT", CORRELATED, D("0.8")) == ["ETHUSDT"]
    assert correlated_symbols("DOGEUSDT", CORRELATED, D("0.8")) == []
    flat_eth = replace(CORRELATED, positions={**CORRELATED.positions, "ETHUSDT": D(0)})
    assert correlated_symbols("SOLUSDT", flat_eth, D("0.8")) == ["BTCUSDT"]


CORRELATION_CASES = [
    ("group-reduces", Limits(max_correlated_exposure=D(10000)), CORRELATED,
     buy(5000, "SOLUSDT"), "reduce", "3000",
     "max correlated exposure is 10000 USDT; 7000 is held in SOLUSDT and BTCUSDT, ETHUSDT "
     "(returns correlated at 0.8 or more), so this buy was reduced from 5000 to 3000"),
    ("own-position-counts", Limits(max_correlated_exposure=D(10000)),
     replace(CORRELATED, positions={**CORRELATED.positions, "SOLUSDT": D(1000)}),
     buy(5000, "SOLUSDT"), "reduce", "2000",
     "max correlated exposure is 10000 USDT; 8000 is held in SOLUSDT and BTCUSDT, ETHUSDT "
     "(returns correlated at 0.8 or more), so this buy was reduced from 5000 to 2000"),
    ("group-fits", Limits(max_correlated_exposure=D(10000)), CORRELATED,
     buy(3000, "SOLUSDT"), "approve", "3000",
     "buy of 3000 USDT on SOLUSDT is within every limit"),
    ("lower-threshold-groups-the-unrelated-too",
     Limits(max_correlated_exposure=D(10000), correlation_threshold=D(0)), CORRELATED,
     buy(5000, "SOLUSDT"), "reject", "0",
     "max correlated exposure is 10000 USDT; 12000 is held in SOLUSDT and BTCUSDT, ETHUSDT, "
     "XRPUSDT (returns correlated at 0 or more), so this buy of 5000 was rejected"),
    ("no-correlated-symbol", Limits(max_correlated_exposure=D(10000)), CORRELATED,
     buy(6000, "XRPUSDT"), "reduce", "5000",
     "max correlated exposure is 10000 USDT; 5000 is held in XRPUSDT (no held symbol "
     "correlates at 0.8 or more), so this buy was reduced from 6000 to 5000"),
]


@pytest.mark.parametrize(
    ("limits", "account", "intent", "action", "notional", "message"),
    [pytest.param(*case[1:], id=case[0]) for case in CORRELATION_CASES],
)
def test_correlated_exposure(limits, account, intent, action, notional, message):
    verdict = check(intent, account, limits)
    assert (verdict.action, verdict.notional) == (action, D(notional))
    assert verdict.message == message


@pytest.mark.parametrize(("side", "notional"), [("buy", D(0)), ("hold", D(10))])
def test_intent_rejects_nonsense(side, notional):
    with pytest.raises(ValueError, match="must be"):
        Intent("BTCUSDT", side, notional)
