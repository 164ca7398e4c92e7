"""Django's PostgreSQL backend with a health check that costs no round trip when nothing is wrong.

With CONN_HEALTH_CHECKS, Django checks a persistent connection before the first query of every
request with `SELECT 1`: one more round trip on every API call. An idle connection has nothing to
read, unless the server has gone away (it sends a termination notice or closes the socket). So: an
idle socket with nothing to read is usable; anything else gets Django's real `SELECT 1`.
"""
import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
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
