"""The registry: built-in names, descriptions for forms, and user strategies from a folder."""

import json
from pathlib import Path

import pytest

from bots.strategies import (
    Strategy,
    available,
    describe,
    get_strategy,
    load_user_strategies,
    register,
)
from bots.strategies.registry import DEFAULT_USER_DIR

from .candles import KLINES, load_klines
from .paper import Paper

BUILTINS = {
    "ai_combined", "bollinger_reversion", "dca", "donchian_breakout", "ema_cross", "grid",
    "macd_trend",
    "rsi_reversion", "sma_cross",
}
GOOD = '''
from bots.strategies import Strategy, register, with_signals


@register
class Always(Strategy):
    name = "always_in"
    title = "Always in"

    def warmup(self):
        return 1

    def prepare(self, candles):
        return with_signals(candles, {}, enter_long=True, exit_long=False)
'''


@pytest.fixture(autouse=True)
def no_user_strategies_left(tmp_path_factory):
    yield
    load_user_strategies(tmp_path_factory.mktemp("empty"))


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_the_built_ins_are_registered_by_name():
    assert set(available()) >= BUILTINS
    # Besides them only user strategies, which Django loads at start-up (bots.apps).
    assert set(available()) - BUILTINS <= {"example_momentum"}
    assert all(get_strategy(name).name == name for name in BUILTINS)


def test_an_unknown_name_lists_the_available_ones():
    with pytest.raises(KeyError) as caught:
        get_strategy("sma_crossover")
    assert caught.value.args[0] == (
        "unknown strategy 'sma_crossover'; available: ai_combined, bollinger_reversion, dca, "
        "donchian_breakout, ema_cross, grid, macd_trend, rsi_reversion, sma_cross"
    )


def test_describe_gives_json_ready_parameters():
    description = describe("sma_cross")
    assert json.loads(json.dumps(description)) == description
    assert (description["name"], description["title"], description["builtin"]) == (
        "sma_cross", "SMA crossover", True
    )
    fast, *_, stop_loss = description["parameters"][:3]
    assert fast == {
        "name": "fast", "kind": "int", "default": 10, "required": False, "minimum": 2,
        "maximum": 100, "step": 2, "choices": [], "help": "Bars in the fast moving average.",
    }
    assert [p["name"] for p in description["parameters"]] == [
        "fast", "slow", "stop_loss_pct", "take_profit_pct", "trailing_stop_pct"
    ]
    assert stop_loss["default"] == "0"  # Decimals travel as strings


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_built_in_describes_itself(name):
    description = describe(name)
    json.dumps(description)
    assert description["title"]
    assert description["description"]
    assert all(p["help"] for p in description["parameters"])


def test_describe_marks_required_parameters():
    required = [p["name"] for p in describe("grid")["parameters"] if p["required"]]
    assert required == ["lower_price", "upper_price", "order_quantity"]


def test_user_strategies_load_from_a_folder(tmp_path):
    write(tmp_path, "always.py", GOOD)
    assert load_user_strategies(tmp_path) == []
    assert get_strategy("always_in").title == "Always in"
    assert describe("always_in")["builtin"] is False


def test_a_broken_file_is_reported_and_the_others_still_load(tmp_path):
    write(tmp_path, "always.py", GOOD)
    broken = write(tmp_path, "broken.py", "import numpy\nraise RuntimeError('no API key')\n")
    typo = write(tmp_path, "typo.py", "def oops(:\n")
    errors = load_user_strategies(tmp_path)
    assert (errors[0].path, errors[0].error) == (broken, "RuntimeError: no API key")
    assert errors[1].path == typo
    assert errors[1].error.startswith("SyntaxError: ")
    assert str(errors[0]) == "broken.py: RuntimeError: no API key"
    assert "always_in" in available()


def test_a_built_in_name_cannot_be_taken(tmp_path):
    clash = write(tmp_path, "clash.py", GOOD.replace('"always_in"', '"sma_cross"'))
    [error] = load_user_strategies(tmp_path)
    assert error.path == clash
    assert error.error == (
        "ValueError: strategy name 'sma_cross' is already used by a built-in strategy "
        "(bots.strategies.builtin.sma_cross.SmaCross); choose another name"
    )
    assert get_strategy("sma_cross").__module__ == "bots.strategies.builtin.sma_cross"


def test_a_file_that_fails_halfway_keeps_none_of_its_strategies(tmp_path):
    second = GOOD.replace("class Always", "class Again").replace('"always_in"', '"dca"')
    write(tmp_path, "two.py", GOOD + second)
    [error] = load_user_strategies(tmp_path)
    assert "'dca' is already used by a built-in strategy" in error.error
    assert "always_in" not in available()


def test_two_user_files_cannot_share_a_name(tmp_path):
    write(tmp_path, "a.py", GOOD)
    write(tmp_path, "b.py", GOOD)
    [error] = load_user_strategies(tmp_path)
    assert error.path.name == "b.py"
    assert "'always_in' is already used by another strategy" in error.error


def test_a_file_without_register_is_reported(tmp_path):
    write(tmp_path, "forgot.py", GOOD.replace("@register\n", ""))
    [error] = load_user_strategies(tmp_path)
    assert error.error == "registers no strategy (decorate the class with @register)"


def test_loading_again_replaces_the_previous_user_strategies(tmp_path):
    write(tmp_path, "always.py", GOOD)
    assert load_user_strategies(tmp_path) == []
    assert load_user_strategies(tmp_path) == []  # not a clash with itself
    (tmp_path / "always.py").unlink()
    assert load_user_strategies(tmp_path) == []
    assert "always_in" not in available()


def test_private_files_are_skipped(tmp_path):
    write(tmp_path, "_helpers.py", "raise RuntimeError('not a strategy')\n")
    assert load_user_strategies(tmp_path) == []


def test_a_missing_folder_is_reported_when_asked_for(tmp_path):
    [error] = load_user_strategies(tmp_path / "nope")
    assert error.error == "not a directory"


def test_register_refuses_bad_names_and_non_strategies():
    class Shouty(Strategy):
        name = "Shouty-Name"

    with pytest.raises(ValueError, match="must start with a lowercase letter"):
        register(Shouty)
    with pytest.raises(TypeError, match="is not a Strategy subclass"):
        register(dict)


@pytest.mark.skipif(not KLINES.is_dir(), reason=f"no klines at {KLINES}")
def test_the_example_user_strategy_loads_and_trades():
    assert load_user_strategies() == []  # the repository's user_strategies/
    assert DEFAULT_USER_DIR.name == "user_strategies"
    strategy = get_strategy("example_momentum")()
    paper = Paper(strategy).run(load_klines("BTCUSDT-1h-taeminlee_cp-spot.csv"))
    entries = [action for _, action in paper.actions if action.tag == "entry"]
    assert entries
    assert entries[0].reason.startswith("up ")
    with pytest.raises(ValueError, match="trend_period must be longer than period"):
        get_strategy("example_momentum")(period=60, trend_period=50)
