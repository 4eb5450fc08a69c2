from django.conf import settings


def platform(request):
    return {
        "platform_profile": settings.PLATFORM_PROFILE,
        "signup_open": settings.ACCOUNT_SIGNUP_OPEN,
    }
