# The Flowplane application image: one image, every process (api, migrate, ...) picks its command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/flowplane

COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install . && useradd --system --create-home --home-dir /home/flowplane flowplane

COPY config.toml ./
COPY workflows ./workflows
COPY schedules ./schedules
# Private to the app's user; var/reports exists so the reports volume starts with its owner and mode.
RUN install -d -m 0700 -o flowplane var var/reports

USER flowplane
EXPOSE 8000
CMD ["flowplane", "api"]
