"""Settings: ``config.toml`` overlaid with ``FLOWPLANE_<SECTION>__<KEY>`` environment variables.

Nothing here runs at import time; entry points call :func:`load_settings` once and pass the result on.
"""

import difflib
import os
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, SecretStr, ValidationError

from app.durations import Rate, format_duration, parse_duration

ENV_PREFIX = "FLOWPLANE_"
CONFIG_ENV = "FLOWPLANE_CONFIG"
TEST_PREFIX = "FLOWPLANE_TEST_"  # the test suite's own variables (servers, the test clock): not settings


class ConfigError(Exception):
    """A setting is missing, unknown or malformed; the message is one line for the operator."""


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a duration string like '30s', '5m' or '14d'")
    return parse_duration(value)


def _rate(value: Any) -> Rate:
    if isinstance(value, Rate):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a rate string like '10/minute'")
    return Rate.parse(value)


def _names(value: Any) -> Any:
    return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


NameList = Annotated[list[str], BeforeValidator(_names)]
Duration = Annotated[timedelta, BeforeValidator(_duration), PlainSerializer(format_duration)]
# An empty value (``TOKEN=`` in a compose file) is unset, never a secret that an empty credential would match.
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(lambda value: None if value == "" else value)]
RateSetting = Annotated[
    Rate,
    BeforeValidator(_rate),
    PlainSerializer(lambda rate: f"{rate.count}/{format_duration(rate.period)}"),
]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class ApiSettings(Section):
    host: str = Field("127.0.0.1", description="Interface the HTTP API listens on.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port of the HTTP API.")
    max_body_bytes: int = Field(65536, ge=1024, description="Largest request body accepted (413 above).")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="Proxies trusted for X-Forwarded-For (comma-separated, or '*')."
    )
    metrics_token: OptionalSecret = Field(None, description="Bearer token GET /metrics requires (set it through "
                                          "the environment); unset or empty leaves it open to scrapers.")


class DatabaseSettings(Section):
    url: str = Field("sqlite:///var/flowplane.db", description="SQLAlchemy URL: sqlite:/// or postgresql://.")
    auto_migrate: bool = Field(True, description="Apply migrations when a process starts.")
    pool_size: int = Field(10, ge=1, le=200, description="Connections kept per process (PostgreSQL).")
    echo: bool = Field(False, description="Log SQL statements (parameters are never logged).")
    connect_timeout: Duration = Field(timedelta(seconds=2), description="Longest wait for a new PostgreSQL "
                                      "connection (libpq's minimum is 2 s).")
    query_timeout: Duration = Field(timedelta(milliseconds=1500), description="Longest wait for one answer of "
                                    "PostgreSQL on an open connection (a server that stops answering fails within "
                                    "it); task handlers get handler_query_timeout instead.")
    handler_query_timeout: Duration = Field(timedelta(seconds=10), description="The same for the connections "
                                            "task handlers use; raise it if a report's query runs longer.")
    pool_timeout: Duration = Field(timedelta(seconds=2), description="Longest wait for a free pooled connection.")
    backoff: Duration = Field(timedelta(seconds=2), description="After a timeout or a refused connection, "
                              "database calls fail at once this long instead of each waiting (HTTP 503).")


class RedisSettings(Section):
    url: str = Field("", description="redis:// URL; empty keeps everything embedded (no Redis).")
    key_prefix: str = Field("flowplane:", description="Prefix of every key Flowplane writes.")
    connect_timeout: Duration = Field(timedelta(seconds=1), description="Longest wait for a new Redis connection.")
    timeout: Duration = Field(timedelta(seconds=1), description="Longest wait for one Redis answer.")
    backoff: Duration = Field(timedelta(seconds=2), description="After a timeout or a refused connection, sends "
                              "to Redis are skipped this long (the outbox keeps them) instead of each waiting.")


class RabbitMQSettings(Section):
    url: str = Field("", description="amqp:// URL; empty carries events on the embedded transport.")
    management_url: str = Field("", description="http:// URL of the management API, if enabled.")
    prefix: str = Field("", pattern=r"^[A-Za-z0-9_.-]{0,64}$", description="Prefix of every exchange and queue.")
    embedded_path: str = Field("var/events.db", description="File of the embedded transport (no RabbitMQ).")
    connect_timeout: Duration = Field(timedelta(seconds=1), description="Longest wait for a new connection, "
                                      "its AMQP handshake included.")
    timeout: Duration = Field(timedelta(seconds=1), description="Longest wait for one socket read or write, and "
                              "for the broker's confirm of a publish.")
    backoff: Duration = Field(timedelta(seconds=2), description="After a timeout or a refused connection, "
                              "publishes are skipped this long (the outbox keeps them) instead of each waiting.")


class TaskSettings(Section):
    queue: str = Field("default", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Queue the plane uses.")
    concurrency: int = Field(10, ge=1, le=512, description="Worker processes one `flowplane worker` runs.")
    batch: int = Field(16, ge=1, le=1000, description="Tasks one worker process takes at once while they run "
                       "quickly; their steps' outcomes are recorded in one transaction. 1: one at a time.")
    sqlite_path: str = Field("var/tasks.db", description="Queue file of the embedded (no Redis) backend.")
    lease: Duration = Field(timedelta(seconds=30), description="A taken task returns to the queue after this "
                            "long without a heartbeat (worker killed).")
    shutdown_grace: Duration = Field(timedelta(seconds=30), description="On SIGTERM/SIGINT, time in-flight tasks "
                                     "get to finish before they are handed back to the queue.")
    dead_letter_retention: Duration = Field(timedelta(days=14), description="How long dead letters are kept.")
    relay_interval: Duration = Field(timedelta(seconds=1), description="How often the worker sends outbox rows "
                                     "that the fast path left behind.")
    modules: NameList = Field(default_factory=list, description="Extra modules whose TASKS list declares "
                              "application tasks (comma-separated in the environment).")


class EventSettings(Section):
    enabled: bool = Field(True, description="Publish domain events; off records event steps as skipped.")
    exchange: str = Field("events", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="The events exchange.")
    exchange_type: Literal["topic", "fanout", "direct", "headers"] = Field("topic", description="Its type.")
    prefetch: int = Field(100, ge=1, le=10_000, description="Unacked messages a consumer holds at once.")
    max_retries: int = Field(3, ge=0, le=100, description="Redeliveries of a failing message before it is dead.")
    retry_delay: Duration = Field(timedelta(seconds=5), description="Wait before each redelivery.")
    max_priority: int = Field(0, ge=0, le=255, description="x-max-priority of consumer queues; 0 = none.")
    queue_type: Literal["classic", "quorum"] = Field("classic", description="quorum for clustered RabbitMQ.")
    message_ttl: Duration | None = Field(None, description="Drop (dead-letter) messages older than this.")
    publish_retries: int = Field(3, ge=0, le=20, description="Fresh connections one publish tries after a "
                                 "connection reset (none after a timeout or a refusal).")
    modules: NameList = Field(default_factory=list, description="Extra modules whose EVENTS and CONSUMERS lists "
                              "declare application events and consumers (comma-separated in the environment).")
    crm_fake_path: str = Field("var/crm.db", description="Store of the stand-in CRM the crm consumer feeds.")


class WorkflowSettings(Section):
    directory: str = Field("workflows", description="Where the workflow files (*.toml) live.")
    reload_interval: Duration = Field(timedelta(seconds=1), description="How often files are checked for edits; "
                                      "0 reads them once.")
    lease: Duration = Field(timedelta(minutes=2), description="A step in flight this long without news is checked; "
                            "if its task is in no queue, the reconciler dispatches it again.")
    reconcile_interval: Duration = Field(timedelta(seconds=15), description="How often the worker reconciles.")


class SchedulerSettings(Section):
    timezone: str = Field("UTC", description="Default timezone of schedules that name none.")
    directory: str = Field("schedules", description="Where the schedule files (*.toml) live.")
    reload_interval: Duration = Field(timedelta(seconds=1), description="How often schedule files are checked "
                                      "for edits.")
    reports_dir: str = Field("var/reports", description="Where generated reports (CSV) are written.")


class RetentionSettings(Section):
    finished_runs: Duration = Field(timedelta(days=30), description="Finished workflow runs (and their steps) "
                                    "older than this are deleted by the retention job.")
    schedule_history: Duration = Field(timedelta(days=30), description="Schedule fire records older than this.")
    consumed_messages: Duration = Field(timedelta(days=30), description="Consumers' dedupe records older than "
                                        "this (a redelivery later than that would be applied again).")
    verification_tokens: Duration = Field(timedelta(days=30), description="Email verification tokens this long "
                                          "past their expiry (a click on an older link then reads 'unknown').")
    awaited_events: Duration = Field(timedelta(days=30), description="Published events some workflow waits for, "
                                     "kept so a wait that parks after its event still finds it: a run whose wait "
                                     "parks later than this after its event misses it and waits for the next.")


class EmailSettings(Section):
    backend: Literal["file", "smtp"] = Field("file", description="file: write .eml files; smtp: send.")
    mail_dir: str = Field("var/mail", description="Where the file backend writes .eml files.")
    smtp_host: str = Field("127.0.0.1", description="SMTP server host.")
    smtp_port: int = Field(1025, ge=1, le=65535, description="SMTP server port.")
    smtp_security: Literal["none", "starttls", "tls"] = Field("none", description="Transport security.")
    smtp_username: str = Field("", description="SMTP login; empty sends without authentication.")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password: set it through the environment.")
    smtp_timeout: Duration = Field(timedelta(seconds=10),
                                   description="Connect and command timeout; a whole conversation gets twice this.")
    sender: str = Field("Flowplane <no-reply@flowplane.local>", description="From: of outgoing mail.")
    public_url: str = Field("http://127.0.0.1:8000", pattern=r"^https?://[^\s?#]+$", description="Where users "
                            "reach the API: mailed links (email verification) start with it.")


class AuthSettings(Section):
    session_ttl: Duration = Field(timedelta(hours=12), description="How long a login token stays valid.")
    register_rate_limit: RateSetting = Field(
        Rate(5, timedelta(minutes=1)), description="Registrations allowed per client address."
    )
    login_rate_limit: RateSetting = Field(
        Rate(10, timedelta(minutes=1)), description="Login attempts allowed per client address."
    )
    verify_rate_limit: RateSetting = Field(
        Rate(10, timedelta(minutes=1)), description="Email verifications (link clicks) allowed per client address."
    )
    require_verified_email: bool = Field(False, description="Refuse to log in users who have not verified their "
                                         "email address yet (403).")
    argon2_time_cost: int = Field(3, ge=1, le=20, description="argon2id passes.")
    argon2_memory_kib: int = Field(65536, ge=8, le=4_194_304, description="argon2id memory per hash.")
    argon2_parallelism: int = Field(2, ge=1, le=16, description="argon2id lanes.")


class Settings(Section):
    api: ApiSettings = ApiSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    rabbitmq: RabbitMQSettings = RabbitMQSettings()
    tasks: TaskSettings = TaskSettings()
    events: EventSettings = EventSettings()
    workflows: WorkflowSettings = WorkflowSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    retention: RetentionSettings = RetentionSettings()
    email: EmailSettings = EmailSettings()
    auth: AuthSettings = AuthSettings()


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the config file (``path``, else ``$FLOWPLANE_CONFIG``, else ``./config.toml`` if present)."""
    environ = os.environ if environ is None else environ
    explicit = path or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    source = explicit or Path("config.toml")
    data: dict[str, Any] = {}
    if explicit is not None or source.exists():
        data = _read_toml(source)
    origins = {f"{section}.{key}": str(source) for section, keys in data.items() if isinstance(keys, dict)
               for key in keys}
    _overlay_environment(data, environ, origins)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origins)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _overlay_environment(data: dict[str, Any], environ: Mapping[str, str], origins: dict[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV or name.startswith(TEST_PREFIX):
            continue
        section, sep, key = name[len(ENV_PREFIX):].lower().partition("__")
        if not sep or section not in Settings.model_fields:
            raise ConfigError(f"{name}: unknown setting; expected FLOWPLANE_<SECTION>__<KEY> with a section "
                              f"among {', '.join(Settings.model_fields)}")
        section_model = _section_model(section)
        if key not in section_model.model_fields:
            raise ConfigError(f"{name}: unknown key {section}.{key}{_did_you_mean(key, section_model)}")
        data.setdefault(section, {})[key] = value
        origins[f"{section}.{key}"] = name


def _section_model(section: str) -> type[BaseModel]:
    model = Settings.model_fields[section].annotation
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


def _did_you_mean(key: str, model: type[BaseModel]) -> str:
    close = difflib.get_close_matches(key, list(model.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe(exc: ValidationError, origins: Mapping[str, str]) -> str:
    problems = []
    for error in exc.errors():
        dotted = ".".join(str(part) for part in error["loc"])
        where = origins.get(dotted)
        label = f"{dotted} (from {where})" if where else dotted
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
            if len(error["loc"]) == 2 and str(error["loc"][0]) in Settings.model_fields:
                message += _did_you_mean(str(error["loc"][1]), _section_model(str(error["loc"][0])))
        elif error["type"] != "missing" and not _looks_secret(dotted) and repr(error["input"]) not in message:
            message += f", got {error['input']!r}"
        problems.append(f"{label}: {message}")
    return "invalid setting " + "; ".join(problems)


def _looks_secret(dotted: str) -> bool:
    return dotted.endswith(("url", "password", "secret", "token", "username"))
