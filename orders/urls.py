from django.urls import path

from orders import views

app_name = "orders"
urlpatterns = [
    path("", views.orders_page, name="page"),
    path("place/", views.order_place_view, name="place"),
    path("partials/<slug:name>/", views.orders_partial, name="partial"),
    path("<int:pk>/", views.order_detail, name="detail"),
    path("<int:pk>/cancel/", views.order_cancel_view, name="cancel"),
]
