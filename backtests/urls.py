from django.urls import path

from backtests import optimisation_views as optimisations
from backtests import views

app_name = "backtests"
urlpatterns = [
    path("", views.backtest_list, name="list"),
    path("new/", views.backtest_create_view, name="create"),
    path("parameters/", views.backtest_parameters, name="parameters"),
    path("compare/", views.backtest_compare, name="compare"),
    path("drift/<int:bot_id>/", views.backtest_drift, name="drift"),
    path("<int:pk>/", views.backtest_detail, name="detail"),
    path("<int:pk>/row/", views.backtest_row, name="row"),
    path("<int:pk>/partials/run/", views.backtest_partial, name="partial"),
    path("<int:pk>/chart.json", views.backtest_chart_data, name="chart-data"),
    path("<int:pk>/cancel/", views.backtest_cancel, name="cancel"),
    path("<int:pk>/repeat/", views.backtest_repeat, name="repeat"),
    path("optimisations/", optimisations.optimisation_list, name="optimisations"),
    path("optimisations/new/", optimisations.optimisation_create_view,
         name="optimisation-create"),
    path("optimisations/parameters/", optimisations.optimisation_parameters,
         name="optimisation-parameters"),
    path("optimisations/combinations/", optimisations.optimisation_combinations,
         name="optimisation-combinations"),
    path("optimisations/<int:pk>/", optimisations.optimisation_detail,
         name="optimisation-detail"),
    path("optimisations/<int:pk>/row/", optimisations.optimisation_row,
         name="optimisation-row"),
    path("optimisations/<int:pk>/partials/run/", optimisations.optimisation_partial,
         name="optimisation-partial"),
    path("optimisations/<int:pk>/cancel/", optimisations.optimisation_cancel_view,
         name="optimisation-cancel"),
    path("optimisations/<int:pk>/repeat/", optimisations.optimisation_repeat_view,
         name="optimisation-repeat"),
    path("optimisations/<int:pk>/backtest/", optimisations.optimisation_backtest,
         name="optimisation-backtest"),
]
