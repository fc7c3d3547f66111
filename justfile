# Flowplane: `just --list` is the list of commands.

set dotenv-load := false

# [no-exit-message] on the long-running recipes: Ctrl-C is how they stop, not an error for just to report

# Run every Flowplane process, supervised (the embedded default needs no servers)
[no-exit-message]
up:
    flowplane up

# Serve the HTTP API alone (http://127.0.0.1:8000, OpenAPI at /schema)
[no-exit-message]
api:
    flowplane api

# With `just up` running in another shell: register a demo user and watch the mail and the events arrive
demo:
    flowplane demo

# Run tasks: worker processes (tasks.concurrency), lease heartbeats, delays and retries, the outbox relay
[no-exit-message]
worker *ARGS:
    flowplane worker {{ARGS}}

# Run the event consumers (analytics, crm, audit), or only the ones named
[no-exit-message]
consumers *NAMES:
    flowplane consumers {{NAMES}}

# Fire the cron schedules in schedules/ (safe to run as several replicas: each tick fires once)
[no-exit-message]
scheduler:
    flowplane scheduler

# Check the workflow and schedule files: file:line:col: field: message, exit 1 on any problem
validate:
    flowplane workflows validate
    flowplane schedules validate

# Benchmarks: tasks against raw Huey and Celery, events against raw Kombu; figures and ratios
bench *ARGS:
    python -m bench {{ARGS}}

# Apply database migrations to the database in the settings
migrate:
    flowplane db upgrade

# Run the whole test suite (PostgreSQL, Redis and RabbitMQ tests skip locally when a server is down; CI=true fails instead)
test *ARGS:
    python -m pytest -n 4 {{ARGS}}

# Unit tests only: no servers, no subprocesses
test-unit *ARGS:
    python -m pytest tests/unit {{ARGS}}

# Integration tests: real databases and servers
test-integration *ARGS:
    python -m pytest -n 4 tests/integration {{ARGS}}

# End-to-end tests: real `flowplane` processes
test-e2e *ARGS:
    python -m pytest tests/e2e {{ARGS}}

# ruff, mypy (strict on app/), the import contracts (dependencies point inwards) and the workflow files
lint:
    ruff check app tests bench
    mypy
    lint-imports
    just validate

# Create the first admin account (asks for its password): the dashboard needs an admin or an operator
admin EMAIL:
    flowplane users create {{quote(EMAIL)}} --role admin
