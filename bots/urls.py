from django.urls import path

from bots import approval_views, views

app_name = "bots"
urlpatterns = [
    path("", views.bot_list, name="list"),
    path("new/", views.bot_create_view, name="create"),
    path("parameters/", views.bot_parameters, name="parameters"),
    path("partials/table/", views.bots_table, name="table"),
    path("approvals/", approval_views.approvals_page, name="approvals"),
    path("approvals/partial/", approval_views.approvals_partial, name="approvals-partial"),
    path("approvals/<int:pk>/approve/", approval_views.approval_decide,
         {"verdict": "approve"}, name="approval-approve"),
    path("approvals/<int:pk>/reject/", approval_views.approval_decide,
         {"verdict": "reject"}, name="approval-reject"),
    path("<int:pk>/approval-rules/", approval_views.bot_approval_rules_view,
         name="approval-rules"),
    path("<int:pk>/", views.bot_detail, name="detail"),
    path("<int:pk>/edit/", views.bot_edit, name="edit"),
    path("<int:pk>/chart-data/", views.bot_chart_data, name="chart-data"),
    path("<int:pk>/partials/<slug:name>/", views.bot_partial, name="partial"),
    path("<int:pk>/close/", views.bot_close_confirm, name="close-confirm"),
    path("<int:pk>/start/", views.bot_control, {"action": "start"}, name="start"),
    path("<int:pk>/pause/", views.bot_control, {"action": "pause"}, name="pause"),
    path("<int:pk>/resume/", views.bot_control, {"action": "resume"}, name="resume"),
    path("<int:pk>/stop/", views.bot_control, {"action": "stop"}, name="stop"),
]
