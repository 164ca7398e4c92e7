"""Keep signed portal tokens out of server access logs.

A link's token sits in its query string, and runserver (`django.server`) and gunicorn
(`gunicorn.access`, when enabled) log request lines. Anyone reading those logs could otherwise
replay a customer's link for a day.
"""

import logging
import re
from collections.abc import MutableMapping

TOKEN = re.compile(r"(token=)[^&\s\"']+")
ACCESS_LOGGERS = ("django.server", "gunicorn.access")


def redact(text: str) -> str:
    return TOKEN.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, MutableMapping):
            # gunicorn passes its atoms as a mapping; change it in place to keep its defaults.
            for name, value in list(record.args.items()):
                if isinstance(value, str):
                    record.args[name] = redact(value)
        return True


def install() -> None:
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
