from django.apps import AppConfig


class TradingsiteConfig(AppConfig):
    name = "tradingsite"
    verbose_name = "Platform"

    def ready(self):
        from tradingsite import checks  # noqa: F401  (registers the deploy checks)

        self._connect_audit()
        self._connect_socket_guard()

    @staticmethod
    def _connect_socket_guard():
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import pre_save

        from tradingsite import socket_guard

        user_logged_out.connect(socket_guard.logged_out, dispatch_uid="sockets-logout")
        pre_save.connect(socket_guard.user_saving, sender=get_user_model(),
                         dispatch_uid="sockets-user-saving")

    @staticmethod
    def _connect_audit():
        """Logins, and exchange keys saved or deleted from anywhere (the admin and the API's
        DELETE save and delete the model directly, with no service in between)."""
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.db.models.signals import post_delete, post_save, pre_save

        from portfolios.models import ExchangeAccount
        from tradingsite import audit

        user_logged_in.connect(audit.login_succeeded, dispatch_uid="audit-login")
        user_login_failed.connect(audit.login_failed, dispatch_uid="audit-login-failed")
        pre_save.connect(audit.exchange_key_saving, sender=ExchangeAccount,
                         dispatch_uid="audit-key-saving")
        post_save.connect(audit.exchange_key_saved, sender=ExchangeAccount,
                          dispatch_uid="audit-key-saved")
        post_delete.connect(audit.exchange_key_deleted, sender=ExchangeAccount,
                            dispatch_uid="audit-key-deleted")
