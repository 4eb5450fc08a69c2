"""Two-factor rules on top of django-allauth's MFA (TOTP and recovery codes).

- Staff use the control panel (the admin), the API from a session, and make API tokens only
  with two-factor turned on and this session past it (MFA_REQUIRED_FOR_STAFF): a staff token
  is thus always made by someone who gave the code, and a staff session's API calls see every
  trader's rows only after the code.
- Exchange keys (adding, viewing, removing them through the API) need two-factor turned on
  and the code given within the last ACCOUNT_REAUTHENTICATION_TIMEOUT seconds, in a signed-in
  browser session; an API token alone never reaches them (MFA_REQUIRED_FOR_EXCHANGE_KEYS).

allauth records each way this session authenticated (password, mfa) with its time; a login
with TOTP and /accounts/2fa/reauthenticate/ both add an "mfa" record.
"""

import time

from allauth.account import app_settings as account_settings
from allauth.account.authentication import get_authentication_records
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from rest_framework import permissions
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied


def last_two_factor_at(request) -> float | None:
    """When this session last passed the second factor (epoch seconds), or None."""
    records = get_authentication_records(request, request.user)
    passed = [record["at"] for record in records if record.get("method") == "mfa"]
    return max(passed, default=None)


def passed_two_factor_recently(request) -> bool:
    at = last_two_factor_at(request)
    return at is not None and time.time() - at < account_settings.REAUTHENTICATION_TIMEOUT


def confirm_url(next_path: str) -> str:
    return f"{reverse('mfa_reauthenticate')}?{urlencode({'next': next_path})}"


class StaffTwoFactorMiddleware:
    """Sends staff who reach the admin, the token page or the API (by session) without
    two-factor to turn it on, or to give the code."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        refusal = self._refusal(request)
        return refusal if refusal is not None else self.get_response(request)

    def _refusal(self, request):
        # The path first: reading request.user loads the session and the user, which other
        # requests (static files, probes, trader pages) need not pay for.
        if not (settings.MFA_REQUIRED_FOR_STAFF and self._is_control_panel(request.path)):
            return None
        user = getattr(request, "user", None)
        if not (user is not None and user.is_authenticated and user.is_staff):
            return None
        if not is_mfa_enabled(user):
            if self._is_api(request.path):
                return self._api_refusal(f"turn on two-factor authentication at "
                                         f"{reverse('mfa_index')} first")
            messages.warning(request, "Staff use the control panel only with two-factor "
                                      "authentication: turn it on here first.")
            return redirect("mfa_index")
        if last_two_factor_at(request) is None:  # a session from before two-factor was on
            if self._is_api(request.path):
                return self._api_refusal(f"give your two-factor code at {confirm_url('/')}")
            return redirect(confirm_url(request.get_full_path()))
        return None

    @staticmethod
    def _is_control_panel(path: str) -> bool:
        guarded = (reverse("admin:index"), reverse("api-tokens"), "/api/")
        public = (reverse("admin:logout"), reverse("docs"), reverse("schema"))
        return path.startswith(guarded) and not path.startswith(public)

    @staticmethod
    def _is_api(path: str) -> bool:
        return path.startswith("/api/")

    @staticmethod
    def _api_refusal(what: str) -> JsonResponse:
        message = f"Staff use the API from a session only with two-factor authentication: {what}."
        return JsonResponse({"code": "mfa_required", "message": message, "detail": message},
                            status=403)


class ExchangeKeysNeedTwoFactor(permissions.BasePermission):
    """The API's exchange-key endpoints: two-factor on, and confirmed within minutes."""

    def has_permission(self, request, view) -> bool:
        if not settings.MFA_REQUIRED_FOR_EXCHANGE_KEYS:
            return True
        user = request.user
        if not (user and user.is_authenticated):
            return False  # 401 from the authentication, as everywhere
        if not isinstance(request.successful_authenticator, SessionAuthentication):
            raise PermissionDenied(
                "Exchange keys are handled from a signed-in browser session with two-factor "
                "authentication, never with an API token.", code="session_required")
        if not is_mfa_enabled(user):
            raise PermissionDenied(
                f"Exchange keys need two-factor authentication: turn it on at "
                f"{reverse('mfa_index')} first.", code="mfa_required")
        if not passed_two_factor_recently(request):
            minutes = account_settings.REAUTHENTICATION_TIMEOUT // 60
            raise PermissionDenied(
                f"Confirm it is you: give your two-factor code at {confirm_url('/')} and try "
                f"again within {minutes} minutes.", code="reauthentication_required")
        return True
