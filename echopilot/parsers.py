"""The API's JSON parser."""

from typing import Any

import orjson
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser on orjson, as the fast path (echopilot.fastpath) parses. Python's json lets
    through a lone surrogate ("\\ud800"), which no database, log line or error message can encode
    afterwards, and nesting deep enough to exhaust the stack; either was a 500 further on. orjson
    refuses both as malformed, like NaN, and reads an integer beyond 64 bits as a float."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            return orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
