from django.urls import path

from bots import ai_views

app_name = "ai"
urlpatterns = [
    path("", ai_views.index, name="index"),
    path("calls/<int:pk>/", ai_views.call_detail, name="call"),
    path("<str:symbol>/", ai_views.symbol_page, name="symbol"),
    path("<str:symbol>/latest/", ai_views.latest_partial, name="latest"),
    path("<str:symbol>/notes/", ai_views.note_add_view, name="note-add"),
    path("<str:symbol>/conversation/", ai_views.conversation, name="conversation"),
]
