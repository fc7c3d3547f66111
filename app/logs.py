"""Process-wide logging: JSON lines when not on a terminal, readable text on one. Lines logged inside
:func:`context` carry its fields (task and run ids, message ids, a schedule's name) as JSON keys."""

import json
import logging
import sys
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from datetime import UTC, datetime

from app.redaction import redact_url

# Huey's loggers stay: "huey" records each task run ("Executing …", "… executed in …") and "huey.consumer" speaks
# only of a worker's life (started, shutting down gracefully, a child died), which an operator needs to see.
_CHATTY_LIBRARIES = ("apscheduler", "kombu", "amqp", "alembic", "httpx", "httpcore")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message"}
# The fields of the innermost open context. A ContextVar, so threads (and asyncio tasks) never mix them.
_fields: ContextVar[dict[str, object] | None] = ContextVar("flowplane_log_fields", default=None)


def context(**fields: object) -> AbstractContextManager[None]:
    """Every line logged inside carries ``fields`` (those that are None are left out)."""
    return _Context({key: value for key, value in fields.items() if value is not None})


class _Context:
    """A class rather than @contextmanager: it is entered around every task a worker runs, and costs half."""

    __slots__ = ("fields", "token")
    token: Token[dict[str, object] | None]

    def __init__(self, fields: dict[str, object]) -> None:
        self.fields = fields

    def __enter__(self) -> None:
        outer = _fields.get()
        self.token = _fields.set({**outer, **self.fields} if outer else self.fields)

    def __exit__(self, *_: object) -> None:
        _fields.reset(self.token)


class ContextFilter(logging.Filter):
    """Copies the open context's fields onto each record; a field the call passed in ``extra`` wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_fields.get() or {}).items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


class AccessLogRedaction(logging.Filter):
    """uvicorn's access lines name the request target with its query string: credential-like values are masked
    (``?access_token=***``), as some clients and links put tokens there."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn logs '%s - "%s %s HTTP/%s" %d' with (client, method, target, version, status)
        if isinstance(record.args, tuple) and len(record.args) == 5 and isinstance(record.args[2], str):
            record.args = (*record.args[:2], redact_url(record.args[2]), *record.args[3:])
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str = "info", *, json_lines: bool | None = None) -> None:
    """Send every logger to stderr; uvicorn's and Litestar's loggers included."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines is None:
        json_lines = not sys.stderr.isatty()
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(ContextFilter())  # on the handler: a logger's filters do not see records from its children
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Libraries narrate their routine (APScheduler logs each 1 s sync twice, Alembic every start): their warnings
    # and errors come through; their info lines only when debug is asked for.
    for name in _CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.NOTSET if level.lower() == "debug" else logging.WARNING)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, AccessLogRedaction) for existing in access.filters):
        access.addFilter(AccessLogRedaction())  # on the logger: every handler, pytest's included, sees it masked
