"""One Redis connection pool per process for Django's cache.

Django keeps a cache object per thread/async context, and under ASGI every request runs in
a fresh one: each built its own redis-py pool, opened a new connection and never closed it
(a new TCP connection per request; bench/api_load_bench.py counted 1.02 per request). The
cache's `pool_class` option names this class, whose `from_url` hands out one shared,
thread-safe pool per URL and options. redis-py pools notice a fork and start afresh in the
child, so Celery's prefork workers are safe too.
"""

import threading

import redis


class SharedConnectionPool(redis.ConnectionPool):
    _shared: dict[tuple, redis.ConnectionPool] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs) -> redis.ConnectionPool:
        key = (url, tuple(sorted((name, repr(value)) for name, value in kwargs.items())))
        with cls._lock:
            if key not in cls._shared:
                cls._shared[key] = super().from_url(url, **kwargs)
            return cls._shared[key]
