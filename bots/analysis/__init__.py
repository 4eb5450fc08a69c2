"""AI-assisted analysis, pure Python (no Django): the technical analysis of a symbol's candles,
news and market sentiment, the local LLM advisor's prompt and answer, and how the three
combine into one decision. ``bots.ai`` stores, schedules and shows what these compute."""
