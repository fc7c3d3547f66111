"""Task handlers: plain functions of (context, payload). None of them imports huey, kombu or litestar."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from app.clock import Clock, SystemClock
from app.config import Settings
from app.mail import Mailer


@dataclass(frozen=True)
class Services:
    """What handlers may use; built once per worker process."""

    settings: Settings
    engine: Engine
    mailer: Mailer
    crm: Any  # a CrmClient
    clock: Clock = SystemClock()  # what time it is for expiries (tests move it)
