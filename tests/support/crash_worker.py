"""A worker process that places one order and is killed (SIGKILL) at a chosen point.

    python -m tests.support.crash_worker ORDER_ID POINT

POINT: before_send (claimed, nothing sent), after_send (sent, answer never read),
before_booking (answer read, nothing booked). Run with DATABASE_URL pointing at the test
database; the test then "restarts" the platform by reconciling and checks the books.
"""

import os
import signal
import sys


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def main(order_id: int, point: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
    django.setup()
    from orders import services
    from orders.gateways.binance_spot import BinanceSpotGateway
    from orders.models import Order

    real_place = BinanceSpotGateway.place

    def place(self, order):
        if point == "before_send":
            die()
        answer = real_place(self, order)
        if point == "after_send":
            die()
        return answer

    def apply(**kwargs):
        die()

    BinanceSpotGateway.place = place
    if point == "before_booking":
        services.order_apply = apply
    services.order_submit(order=Order.objects.get(pk=order_id))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
