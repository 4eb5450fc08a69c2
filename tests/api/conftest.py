"""The bots tests' paper portfolio and candle path, for the ownership tests."""

from tests.bots.conftest import crossing_candle, paper_portfolio  # noqa: F401 (fixtures)
