"""The bots' paper portfolio, for replaying a live bot against the backtester."""

from tests.bots.conftest import (  # noqa: F401  (fixtures for the bots' tests here)
    market_is_live,
    paper_portfolio,
)
