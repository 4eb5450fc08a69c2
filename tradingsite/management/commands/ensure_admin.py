import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the first admin account if there is no superuser yet. Reads ADMIN_USERNAME, "
        "ADMIN_EMAIL and ADMIN_PASSWORD; without ADMIN_PASSWORD a random one is printed once."
    )

    def handle(self, *args, **options):
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin account exists already; nothing to do.")
            return
        username = os.environ.get("ADMIN_USERNAME", "admin")
        email = os.environ.get("ADMIN_EMAIL", "admin@localhost")
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=username, email=email, password=password)
        self.stdout.write(self.style.SUCCESS("Created the first admin account:"))
        self.stdout.write(f"    username: {username}")
        if "ADMIN_PASSWORD" in os.environ:
            self.stdout.write("    password: (from ADMIN_PASSWORD)")
        else:
            self.stdout.write(f"    password: {password}")
            self.stdout.write("    This is the only time it is shown: note it or change it.")
