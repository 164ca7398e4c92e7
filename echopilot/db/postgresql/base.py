"""Django's PostgreSQL backend with a health check that costs no round trip when nothing is wrong.

With CONN_HEALTH_CHECKS, Django checks a persistent connection before the first query of every
request with `SELECT 1`: one more round trip on every API call. An idle connection has nothing to
read, unless the server has gone away (it sends a termination notice or closes the socket). So: an
idle socket with nothing to read is usable; anything else gets Django's real `SELECT 1`.

Prepared statements: Django turns them off (prepare_threshold None) so that connection poolers
work, and psycopg then ignores even an explicit `execute(..., prepare=True)`. Here only the
statements that ask for it are prepared (the cost ledger's write, run on every usage report):
psycopg never prepares a query on its own. An explicit `prepare_threshold` in OPTIONS wins.
"""

import select
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg import pq
from psycopg.abc import RV, PQGen

# psycopg prepares a query once it has run this many times, or at once when asked: never on its own.
ONLY_WHEN_ASKED = 2**62


class DeadlineConnection(psycopg.Connection):
    """A connection that gives up on a server that answers nothing (frozen, or a network that drops
    packets) after `client_timeout` seconds, instead of waiting forever: the server's own
    statement_timeout cannot fire when the server does not run. The connection is then closed (its
    state is unknown) and the query raises OperationalError, which the API answers as a 503."""

    client_timeout: float | None = None

    def wait(self, gen: PQGen[RV], interval=0.1, timeout=None) -> RV:
        try:
            return super().wait(gen, interval, timeout if timeout is not None else self.client_timeout)
        except psycopg.errors._WaitTimeout:
            self.pgconn.finish()
            raise psycopg.OperationalError(f"the database did not answer within {self.client_timeout:g} s") from None


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        params.pop("client_timeout", None)  # ours (echopilot.settings), not libpq's
        return params

    def get_new_connection(self, conn_params) -> psycopg.Connection[Any]:
        connection = super().get_new_connection(conn_params)
        if "prepare_threshold" not in self.settings_dict.get("OPTIONS", {}):
            connection.prepare_threshold = ONLY_WHEN_ASKED
        client_timeout = self.settings_dict.get("OPTIONS", {}).get("client_timeout")
        if client_timeout:
            # psycopg makes its own Connection; its wait is the one place every query waits.
            connection.__class__ = DeadlineConnection
            connection.client_timeout = client_timeout
        return connection

    def is_usable(self) -> bool:
        if self.connection is None or self.connection.closed:
            return False
        if self.connection.info.transaction_status == pq.TransactionStatus.IDLE and not self._socket_has_data():
            return True
        return super().is_usable()

    def _socket_has_data(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)
