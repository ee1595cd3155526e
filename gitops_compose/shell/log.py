"""Log lines: one per check and one per stack operation, as text or JSON, on stderr.

Each line is an event name plus fields, so the text and JSON forms say the same thing.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping

_LOGGER = logging.getLogger("gitops_compose")
Fields = Mapping[str, object]


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: Fields = getattr(record, "fields", {})
        rendered = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}Z {record.levelname.lower():5} {record.getMessage()} {rendered}".rstrip()


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: Fields = getattr(record, "fields", {})
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return json.dumps(
            {
                "time": f"{stamp}Z",
                "level": record.levelname.lower(),
                "event": record.getMessage(),
                **fields,
            }
        )


def _text_value(value: object) -> str:
    text = f"{value:.2f}s" if isinstance(value, float) else str(value)
    return json.dumps(text) if (" " in text or '"' in text or not text) else text


def configure(log_format: str, level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if log_format == "json" else _TextFormatter())
    _LOGGER.handlers[:] = [handler]
    _LOGGER.setLevel(level)
    _LOGGER.propagate = False


def event(name: str, level: int = logging.INFO, **fields: object) -> None:
    _LOGGER.log(level, name, extra={"fields": fields})
