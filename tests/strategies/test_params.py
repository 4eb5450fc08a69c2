"""Parameters: typed values from forms and JSON, and errors a trader can act on."""

from decimal import Decimal

import pytest

from bots.strategies import Parameter, ParameterError, get_strategy, grid, validate_params

FAST = Parameter("fast", "int", 10, minimum=2, maximum=100, step=2)
RATIO = Parameter("ratio", "float", 0.5, minimum=0.1, maximum=2)
AMOUNT = Parameter("amount", "decimal", Decimal("10"), minimum=Decimal("0.01"))
SHORTS = Parameter("shorts", "bool", False)
MODE = Parameter("mode", "choice", "fast", choices=("fast", "slow"))
ALL = (FAST, RATIO, AMOUNT, SHORTS, MODE)


def errors_of(call) -> dict[str, str]:
    with pytest.raises(ParameterError) as caught:
        call()
    return caught.value.errors


def test_it_fills_defaults():
    assert validate_params(ALL, {}) == {
        "fast": 10, "ratio": 0.5, "amount": Decimal("10"), "shorts": False, "mode": "fast"
    }


def test_it_coerces_form_strings():
    given = {"fast": " 12 ", "ratio": "1.5", "amount": "0.1", "shorts": "on", "mode": "slow"}
    values = validate_params(ALL, given)
    assert values == {
        "fast": 12, "ratio": 1.5, "amount": Decimal("0.1"), "shorts": True, "mode": "slow"
    }
    assert type(values["fast"]) is int


def test_it_reads_an_empty_form_field_as_the_default():
    assert validate_params(ALL, {"fast": "", "amount": None})["fast"] == 10


def test_it_keeps_decimals_exact_even_from_floats():
    assert validate_params(ALL, {"amount": 0.1})["amount"] == Decimal("0.1")


def test_it_accepts_whole_numbers_written_as_floats():
    assert validate_params(ALL, {"fast": "12.0"})["fast"] == 12


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"fast": 1}, "fast must be at least 2"),
        ({"fast": "101"}, "fast must be at most 100"),
        ({"fast": "ten"}, "fast must be a whole number"),
        ({"fast": 2.5}, "fast must be a whole number"),
        ({"fast": True}, "fast must be a whole number"),
        ({"ratio": "0.05"}, "ratio must be at least 0.1"),
        ({"ratio": "abc"}, "ratio must be a number"),
        ({"amount": "0"}, "amount must be at least 0.01"),
        ({"amount": "NaN"}, "amount must be a finite number"),
        ({"shorts": "maybe"}, "shorts must be true or false"),
        ({"mode": "medium"}, "mode must be one of: fast, slow"),
    ],
)
def test_it_explains_a_bad_value(given, message):
    assert errors_of(lambda: validate_params(ALL, given)) == {next(iter(given)): message}


def test_it_names_unknown_parameters():
    assert errors_of(lambda: validate_params(ALL, {"foo": 1})) == {
        "foo": "unknown parameter 'foo'"
    }


def test_it_reports_every_problem_at_once():
    errors = errors_of(lambda: validate_params(ALL, {"fast": 1, "ratio": 9, "foo": 1}))
    assert errors == {
        "foo": "unknown parameter 'foo'",
        "fast": "fast must be at least 2",
        "ratio": "ratio must be at most 2",
    }


def test_the_error_is_a_value_error_with_the_messages():
    error = ParameterError({"fast": "fast must be at least 2", "foo": "unknown parameter 'foo'"})
    assert isinstance(error, ValueError)
    assert str(error) == "fast must be at least 2; unknown parameter 'foo'"


def test_a_strategy_checks_parameters_against_each_other():
    sma_cross = get_strategy("sma_cross")
    assert errors_of(lambda: sma_cross(fast=30, slow=10)) == {
        "fast": "fast must be smaller than slow"
    }
    assert errors_of(lambda: sma_cross(fast=20, slow=20)) == {
        "fast": "fast must be smaller than slow"
    }


def test_cross_checks_wait_until_each_value_is_valid():
    # slow=1 is already wrong; "fast must be smaller than slow" would only confuse.
    assert errors_of(lambda: get_strategy("sma_cross")(fast=30, slow=1)) == {
        "slow": "slow must be at least 3"
    }


def test_every_strategy_has_the_common_exits_as_decimals():
    strategy = get_strategy("sma_cross")(stop_loss_pct="5", trailing_stop_pct=2.5)
    assert strategy.params == {
        "fast": 10, "slow": 30, "stop_loss_pct": Decimal("5"),
        "take_profit_pct": Decimal("0"), "trailing_stop_pct": Decimal("2.5"),
    }


def test_a_parameter_without_default_is_required():
    errors = errors_of(lambda: get_strategy("grid")(levels=5))
    assert errors == {
        "lower_price": "lower_price is required",
        "upper_price": "upper_price is required",
        "order_quantity": "order_quantity is required",
    }


def test_a_default_outside_its_own_bounds_fails_at_definition():
    with pytest.raises(ValueError, match="fast must be at least 2"):
        Parameter("fast", "int", 1, minimum=2)


def test_grid_steps_from_minimum_to_maximum():
    assert list(grid(FAST))[:3] == [2, 4, 6]
    assert list(grid(FAST))[-1] == 100
    assert len(list(grid(FAST))) == 50


def test_grid_counts_decimal_steps_exactly():
    tenths = Parameter("x", "decimal", Decimal("0.1"), minimum="0.1", maximum="0.3", step="0.1")
    assert list(grid(tenths)) == [Decimal("0.1"), Decimal("0.2"), Decimal("0.3")]
    floats = Parameter("x", "float", 0.5, minimum=0.5, maximum=2, step=0.5)
    assert list(grid(floats)) == [0.5, 1.0, 1.5, 2.0]


def test_grid_of_bools_choices_and_fixed_parameters():
    assert list(grid(SHORTS)) == [False, True]
    assert list(grid(MODE)) == ["fast", "slow"]
    assert list(grid(RATIO)) == [0.5]  # no step: not optimised
