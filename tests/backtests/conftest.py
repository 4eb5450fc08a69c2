"""The bots' paper portfolio, for replaying a live bot against the backtester, and how a
refused run is checked."""

import pytest

from backtests.services import BacktestRefused
from tests.bots.conftest import (  # noqa: F401  (fixtures for the bots' tests here)
    market_is_live,
    paper_portfolio,
)


def assert_refused_in_words(create, errors: dict, model) -> None:
    """``create()`` is refused with exactly ``errors``' fields, each message holding its
    words, and saves no ``model`` row."""
    with pytest.raises(BacktestRefused) as refused:
        create()

    assert set(refused.value.errors) == set(errors)
    for name, words in errors.items():
        assert words in refused.value.errors[name]
    assert not model.objects.exists()
