from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from tradingsite.health import readiness


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    ready, checks = readiness()
    body = {"status": "ok" if ready else "unavailable", "profile": settings.PLATFORM_PROFILE,
            "checks": checks}
    return JsonResponse(body, status=200 if ready else 503)


def health_page(request):
    ready, checks = readiness()
    return render(request, "health.html", {"ready": ready, "checks": checks})


@login_required
def home(request):
    return render(request, "home.html")
