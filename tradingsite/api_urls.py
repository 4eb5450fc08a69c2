"""The DRF API under /api/: each app registers its viewsets here as it lands."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from backtests.api import BacktestRunViewSet, OptimisationRunViewSet
from bots.ai_api import (
    AdvisorCallViewSet,
    AnalysisViewSet,
    NoteViewSet,
    SentimentItemViewSet,
    SymbolAnalyseApi,
)
from bots.api import BotViewSet, StrategyViewSet, TradeApprovalViewSet
from marketdata.api import CandleListApi, SymbolViewSet, TickerListApi
from orders.api import (
    BalanceViewSet,
    FillViewSet,
    OrderViewSet,
    PortfolioViewSet,
    PositionViewSet,
)
from portfolios.api import ExchangeAccountViewSet
from risk.api import (
    EmergencyStopApi,
    EmergencyStopViewSet,
    EntriesResumeApi,
    EntryBlockViewSet,
    RiskAlertViewSet,
    RiskLimitViewSet,
    RiskSummaryApi,
)
from tradingsite.audit_api import AuditEventViewSet

router = DefaultRouter()
router.register("exchange-accounts", ExchangeAccountViewSet, basename="exchange-account")
router.register("symbols", SymbolViewSet, basename="symbol")
router.register("orders", OrderViewSet, basename="order")
router.register("fills", FillViewSet, basename="fill")
router.register("positions", PositionViewSet, basename="position")
router.register("balances", BalanceViewSet, basename="balance")
router.register("portfolios", PortfolioViewSet, basename="portfolio")
router.register("bots", BotViewSet, basename="bot")
router.register("strategies", StrategyViewSet, basename="strategy")
router.register("approvals", TradeApprovalViewSet, basename="approval")
router.register("risk/limits", RiskLimitViewSet, basename="risk-limit")
router.register("risk/alerts", RiskAlertViewSet, basename="risk-alert")
router.register("risk/blocks", EntryBlockViewSet, basename="risk-block")
router.register("risk/emergency-stops", EmergencyStopViewSet, basename="risk-emergency-stop")
router.register("backtests", BacktestRunViewSet, basename="backtest")
router.register("optimisations", OptimisationRunViewSet, basename="optimisation")
router.register("ai/analyses", AnalysisViewSet, basename="ai-analysis")
router.register("ai/advisor-calls", AdvisorCallViewSet, basename="ai-advisor-call")
router.register("ai/sentiment-items", SentimentItemViewSet, basename="ai-sentiment-item")
router.register("ai/notes", NoteViewSet, basename="ai-note")
router.register("audit", AuditEventViewSet, basename="audit-event")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: the CSP allows no inline scripts.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("candles/", CandleListApi.as_view(), name="candle-list"),
    path("tickers/", TickerListApi.as_view(), name="ticker-list"),
    path("risk/emergency-stop/", EmergencyStopApi.as_view(), name="risk-emergency-stop-run"),
    path("risk/entries-resume/", EntriesResumeApi.as_view(), name="risk-entries-resume"),
    path("risk/summary/", RiskSummaryApi.as_view(), name="risk-summary"),
    path("backtests/<int:pk>/trades.csv", BacktestRunViewSet.as_view({"get": "trades_csv"}),
         name="backtest-trades-csv"),
    path("ai/analyse/", SymbolAnalyseApi.as_view(), name="ai-analyse"),
    *router.urls,
]
