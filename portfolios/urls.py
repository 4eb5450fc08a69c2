from django.urls import path

from portfolios import views

app_name = "portfolios"
urlpatterns = [
    path("", views.portfolio_list, name="list"),
    path("new/", views.portfolio_create, name="create"),
    path("<int:pk>/", views.portfolio_detail, name="detail"),
    path("<int:pk>/edit/", views.portfolio_edit, name="edit"),
    path("<int:pk>/equity/", views.portfolio_equity, name="equity"),
    path("<int:pk>/partials/<slug:name>/", views.portfolio_partial, name="partial"),
]
