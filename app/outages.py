"""Which failures mean a server is down or silent, whichever server: what the API and the dashboard answer
with 503 and Retry-After (try again shortly) rather than 500 (a bug)."""

from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu.exceptions import OperationalError as BrokerUnreachable
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import SQLAlchemyError

from app.availability import Unavailable
from app.db import errors as database

# The exception classes worth a look: any other is a bug
SERVER_ERRORS: tuple[type[Exception], ...] = (Unavailable, SQLAlchemyError, RedisConnectionError, RedisTimeoutError,
                                              BrokerUnreachable, AmqpConnectionError)
RETRY_AFTER = 2.0  # seconds, when the failure does not say


def outage(error: BaseException) -> Unavailable | None:
    """The outage ``error`` reports, or None when it reports something else."""
    down = database.outage(error, RETRY_AFTER)
    if down is not None:
        return down
    for cause in database.causes(error):
        if isinstance(cause, RedisConnectionError | RedisTimeoutError):
            return Unavailable("redis", RETRY_AFTER)
        if isinstance(cause, BrokerUnreachable | AmqpConnectionError):
            return Unavailable("event broker", RETRY_AFTER)
    return None
