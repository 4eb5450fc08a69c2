"""Optimisation and walk-forward analysis on real hourly BTCUSDT candles: the candidates
tried, how they are split and ranked, and how the out-of-sample windows are stitched."""

import json
import math
import re
from decimal import Decimal
from pathlib import Path

import pytest

from backtests.engine import BacktestConfig, load_csv, run_backtest
from backtests.engine.optimise import (
    Score,
    chunked,
    evaluate,
    grid_candidates,
    max_lookback,
    parameter_space,
    random_candidates,
    rank,
)
from backtests.engine.walkforward import walk_forward, walk_forward_windows
from bots.strategies import get_strategy

KLINES = Path(__file__).resolve().parents[3] / "shared/data/klines/BTCUSDT-1h-taeminlee_cp-spot.csv"
CONFIG = BacktestConfig(interval="1h")
SMALL = {"fast": (5, 15, 5), "slow": (20, 40, 10)}
SMA = get_strategy("sma_cross")


@pytest.fixture(scope="module")
def candles():
    return load_csv(KLINES)


@pytest.fixture(scope="module")
def small_space():
    return parameter_space(SMA, SMALL)


@pytest.fixture(scope="module")
def walked(candles, small_space):
    candidates = grid_candidates(SMA, small_space)
    windows = walk_forward_windows(len(candles), in_sample=2000, out_of_sample=1000,
                                   warmup=max_lookback("sma_cross", candidates))
    return walk_forward("sma_cross", candles, CONFIG, small_space, objective="sharpe",
                        min_trades=5, windows=windows)


def score(sharpe, trades, drawdown=5.0):
    return Score({"fast": trades}, {"sharpe": sharpe, "trade_count": trades,
                                    "total_return_pct": 10.0, "max_drawdown_pct": drawdown})


def test_the_declared_space_of_sma_cross_drops_fast_at_or_above_slow():
    space = parameter_space(SMA)

    candidates = grid_candidates(SMA, space)

    assert space["stop_loss_pct"] == [Decimal(0)]  # declared without a step: not optimised
    pairs = [(fast, slow) for fast in space["fast"] for slow in space["slow"] if fast < slow]
    assert [(c["fast"], c["slow"]) for c in candidates] == pairs
    assert len(pairs) < len(space["fast"]) * len(space["slow"])


def test_ranges_override_the_declared_grid_and_the_rest_keep_their_default():
    space = parameter_space(SMA, {"fast": (5, 15, 5), "slow": [40, "20", 40]},
                            fixed={"stop_loss_pct": "2.5"})

    assert space == {"fast": [5, 10, 15], "slow": [40, 20], "stop_loss_pct": [Decimal("2.5")],
                     "take_profit_pct": [Decimal(0)], "trailing_stop_pct": [Decimal(0)]}


@pytest.mark.parametrize(("ranges", "words"), [
    ({"fast": (1, 10, 1)}, "fast: cannot try 1: fast must be at least 2"),
    ({"slow": [30, 301]}, "slow must be at most 300"),
    ({"fast": (10, 5, 1)}, "fast: the range starts at 10, above its end 5"),
    ({"speed": [1]}, "sma_cross has no parameter speed"),
    ({"fast": (2, 100, 1), "slow": (3, 300, 1), "stop_loss_pct": (0, 99, "0.5")},
     "the ranges give 5,870,898 combinations; at most 100,000"),
    ({"take_profit_pct": (0, 1000, "0.001")}, "take_profit_pct's range gives 1,000,001"),
])
def test_a_range_outside_the_declared_bounds_or_too_large_is_refused_in_words(ranges, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        parameter_space(SMA, ranges)


def test_random_candidates_are_distinct_valid_and_reproducible():
    space = parameter_space(SMA)

    drawn = random_candidates(SMA, space, 50, seed=3)

    assert len({(c["fast"], c["slow"]) for c in drawn}) == 50
    assert all(c["fast"] < c["slow"] for c in drawn)
    assert random_candidates(SMA, space, 50, seed=3) == drawn
    assert random_candidates(SMA, space, 50, seed=4) != drawn
    assert len(random_candidates(SMA, parameter_space(SMA, SMALL), 50, seed=3)) == 9


@pytest.mark.parametrize("chunks", [1, 2, 3, 4, 7, 10, 25])
def test_chunking_covers_every_candidate_once_in_balanced_pieces(chunks):
    candidates = [{"fast": n} for n in range(10)]

    pieces = chunked(candidates, chunks)

    assert [c for piece in pieces for c in piece] == candidates
    assert len(pieces) == min(chunks, 10)
    assert max(map(len, pieces)) - min(map(len, pieces)) <= 1


def test_ranking_respects_the_objective_and_puts_the_ineligible_last_with_the_reason():
    few_trades, good, flat, better = score(3.0, 4), score(1.0, 20), score(None, 20), score(2.0, 30)

    ranked = rank([few_trades, good, flat, better], "sharpe", min_trades=10)

    assert [s.params for s in ranked] == [better.params, good.params, few_trades.params,
                                          flat.params]
    assert [s.eligible for s in ranked] == [True, True, False, False]
    assert ranked[2].why == "4 trades, fewer than the minimum of 10"
    assert ranked[3].why == "no Sharpe ratio: the equity did not vary"
    [no_drawdown] = rank([score(1.0, 20, drawdown=0.0)], "return_drawdown", min_trades=1)
    assert (no_drawdown.value, no_drawdown.eligible) == (None, False)
    assert rank([good], "return_drawdown")[0].value == pytest.approx(2.0)
    with pytest.raises(ValueError, match="unknown objective 'profit'; choose one of sharpe"):
        rank([good], "profit")


def test_a_small_grid_in_chunks_finds_the_best_a_brute_force_loop_finds(candles, small_space):
    candidates = grid_candidates(SMA, small_space)

    scores = [s for piece in chunked(candidates, 4)
              for s in evaluate("sma_cross", piece, candles, CONFIG)]
    best = rank(scores, "sharpe", min_trades=1)[0]

    runs = {(fast, slow): run_backtest(SMA(fast=fast, slow=slow), candles, CONFIG).metrics
            for fast in (5, 10, 15) for slow in (20, 30, 40)}
    winner = max(runs, key=lambda pair: runs[pair]["sharpe"])
    assert (best.params["fast"], best.params["slow"]) == winner
    assert best.value == runs[winner]["sharpe"]
    assert best.metrics["trade_count"] == runs[winner]["trade_count"]


def test_a_score_travels_through_json_unchanged(candles):
    [scored] = evaluate("sma_cross", [{"fast": 10, "slow": 30}], candles, CONFIG)

    data = json.loads(json.dumps(scored.as_dict()))

    assert Score.from_dict(data).as_dict() == scored.as_dict()
    assert data["params"]["stop_loss_pct"] == "0"


def test_walk_forward_windows_follow_one_another_out_of_sample():
    windows = walk_forward_windows(7091, in_sample=2000, out_of_sample=1000, warmup=41)

    assert len(windows) == 5
    assert windows[0].in_sample_start == 41
    for window in windows:
        assert window.in_sample_start - window.warmup_start == 41
        assert window.out_of_sample_start - window.in_sample_start == 2000
    for before, after in zip(windows, windows[1:], strict=False):
        assert after.out_of_sample_start == before.out_of_sample_end
    assert 7091 - windows[-1].out_of_sample_end < 1000


def test_walk_forward_windows_refuse_when_there_is_no_room_or_they_would_overlap():
    with pytest.raises(ValueError, match="one window needs 3,041 candles .* only 3,000"):
        walk_forward_windows(3000, in_sample=2000, out_of_sample=1000, warmup=41)
    with pytest.raises(ValueError, match="the out-of-sample spans would overlap"):
        walk_forward_windows(7091, in_sample=2000, out_of_sample=1000, step=500, warmup=41)


def test_the_stitched_out_of_sample_curve_starts_each_window_where_the_last_ended(walked):
    equity, starts = walked.equity, [0]
    for result in walked.windows:
        window = result.window
        starts.append(starts[-1] + window.out_of_sample_end - window.out_of_sample_start)

    assert len(equity) == starts[-1]
    assert walked.times.is_monotonic_increasing
    for start in starts[1:-1]:
        assert equity[start] == pytest.approx(equity[start - 1])
    product = math.prod(1 + w.out_of_sample["total_return_pct"] / 100 for w in walked.windows)
    assert 1 + walked.metrics["total_return_pct"] / 100 == pytest.approx(product)
    assert walked.metrics["trade_count"] == sum(
        w.out_of_sample["trade_count"] for w in walked.windows)


def test_each_window_reports_its_winner_in_and_out_of_sample(walked):
    for result in walked.windows:
        assert result.best_params["fast"] < result.best_params["slow"]
        assert result.in_sample_value == result.in_sample["sharpe"]
        assert result.out_of_sample_value == result.out_of_sample["sharpe"]


def test_the_stability_view_names_the_parameters_in_words(walked):
    rows = {row["parameter"]: row for row in walked.stability}

    assert set(rows) == {"fast", "slow"}
    assert re.fullmatch(r"fast: \d+ won \d of 5 windows.*", rows["fast"]["words"])
    assert rows["slow"]["wins"] / 5 == rows["slow"]["share"]
    json.dumps(walked.as_dict())


def test_a_window_with_no_eligible_candidate_sits_out_flat(candles, small_space):
    windows = walk_forward_windows(len(candles), in_sample=2000, out_of_sample=2000, warmup=41)

    result = walk_forward("sma_cross", candles, CONFIG, small_space, objective="sharpe",
                          min_trades=10_000, windows=windows, search="random", samples=3)

    assert result.candidates == 3
    assert set(result.equity) == {10_000.0}
    assert result.windows[0].note.endswith("the window sat out")
    assert result.stability[0]["words"] == "fast: no window found a winner"
