"""Run daphne from Python: the embedded run command and the test server share this."""

import daphne.server  # noqa: F401  (installs Twisted's asyncio reactor before anything else)
from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server


def build_server(application, *, host: str, port: int, signal_handlers: bool,
                 ready_callable=None) -> Server:
    return Server(
        application=application,
        endpoints=build_endpoint_description_strings(host=host, port=port),
        signal_handlers=signal_handlers,
        ready_callable=ready_callable,
        verbosity=0,
    )
