from django.urls import path

from risk import views

app_name = "risk"
urlpatterns = [
    path("", views.risk_page, name="page"),
    path("limits/new/", views.limit_edit, name="limit-create"),
    path("limits/<int:pk>/", views.limit_edit, name="limit-edit"),
    path("limits/<int:pk>/delete/", views.limit_delete, name="limit-delete"),
    path("alerts/<int:pk>/acknowledge/", views.alert_acknowledge, name="alert-acknowledge"),
    path("blocks/<int:pk>/clear/", views.block_clear, name="block-clear"),
    path("portfolios/<int:pk>/panel/", views.risk_panel, name="panel"),
    path("portfolios/<int:pk>/emergency-stop/", views.emergency_stop_confirm,
         name="emergency-stop"),
    path("portfolios/<int:pk>/resume-entries/", views.resume_entries, name="resume-entries"),
    path("emergency-stops/<int:pk>/", views.emergency_stop_detail, name="stop"),
]
