"""A scratch PostgreSQL database for a benchmark: created empty, dropped afterwards."""

import psycopg


def recreate_database(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")


def drop_database(server: str, name: str) -> None:
    """Close this process's Django connections first: PostgreSQL will not drop a database in
    use (FORCE ends other sessions, such as a benchmark's worker processes)."""
    from django.db import connections

    connections.close_all()
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
