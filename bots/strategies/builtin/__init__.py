"""The built-in strategies; importing this package registers them all."""

from bots.strategies.builtin import (  # noqa: F401  (imported to register)
    ai_combined,
    bollinger_reversion,
    dca,
    donchian_breakout,
    ema_cross,
    grid,
    macd_trend,
    rsi_reversion,
    sma_cross,
)
