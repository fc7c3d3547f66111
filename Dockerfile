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
RUN mkdir -p var && chown flowplane var

USER flowplane
EXPOSE 8000
CMD ["flowplane", "api"]
