from django.conf import settings
from django.core.management.base import BaseCommand

from portfolios.services import exchange_secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored exchange secret under the first key of FIELD_ENCRYPTION_KEY. "
        "To rotate: put a new key first (FIELD_ENCRYPTION_KEY=new,old), run this, then drop old."
    )

    def handle(self, *args, **options):
        count = exchange_secrets_reencrypt()
        keys = len(settings.FIELD_ENCRYPTION_KEYS)
        self.stdout.write(self.style.SUCCESS(
            f"Re-encrypted {count} exchange account(s) under the newest of {keys} key(s)."))
        if keys > 1:
            self.stdout.write("Every secret now decrypts with the first key alone: the others "
                              "can be removed from FIELD_ENCRYPTION_KEY.")
