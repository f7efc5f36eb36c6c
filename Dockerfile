# Production image: gunicorn serving blinno.wsgi; the same image runs the Celery worker and
# beat (see docker-compose.yml). Configuration comes from the environment (see .env.example).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=blinno.settings

WORKDIR /app

# An unprivileged account runs the service; the code stays owned by root, read-only to it.
RUN groupadd --system --gid 10001 blinno \
    && useradd --system --uid 10001 --gid blinno --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin blinno

COPY requirements.txt ./
RUN pip install -r requirements.txt

# Only the service's code: no .env, .venv, .data or tests end up in the image.
COPY manage.py pyproject.toml ./
COPY blinno/ blinno/
COPY accounts/ accounts/
COPY clickpesa/ clickpesa/
COPY payments/ payments/
COPY revenue/ revenue/
COPY notifications/ notifications/
COPY monitoring/ monitoring/

# Settings need a key with DEBUG off; this one exists only for this build step.
RUN DEBUG=false SECRET_KEY=collectstatic-build-step-only python manage.py collectstatic --noinput

USER blinno
EXPOSE 8000
# Workers: gunicorn reads WEB_CONCURRENCY (default 1).
CMD ["gunicorn", "blinno.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
