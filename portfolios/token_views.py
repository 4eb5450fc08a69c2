"""The trader's API tokens: make one (shown once, on the page that made it), see when each was
last used, revoke one. Only the owner's own tokens are ever listed or revocable."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from portfolios.models import ApiToken
from portfolios.tokens import TokenRefused, token_create, token_revoke


def _page(request, *, new=None, problem: str = "", status: int = 200):
    tokens = ApiToken.objects.filter(user=request.user)
    return render(request, "portfolios/tokens.html",
                  {"tokens": tokens, "new": new, "problem": problem}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def tokens_page(request):
    if request.method == "GET":
        return _page(request)
    try:
        new = token_create(user=request.user, name=request.POST.get("name", ""))
    except TokenRefused as refused:
        return _page(request, problem=str(refused), status=400)
    response = _page(request, new=new)
    response["Cache-Control"] = "no-store"  # the token is on this page, once
    return response


@login_required
@require_POST
def token_revoke_view(request, pk):
    token = get_object_or_404(ApiToken.objects.filter(user=request.user), pk=pk)
    token_revoke(token=token)
    messages.success(request, f"Token {token.name} revoked: programs using it are refused now.")
    return redirect("api-tokens")
