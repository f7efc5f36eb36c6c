# Production image: gunicorn serving blinno.wsgi (blinno/gunicorn_conf.py) once the deployment
# checks pass; the same image runs the Celery worker and beat (see docker-compose.yml).
# Configuration comes from the environment (see .env.example).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=blinno.settings \
    SERVE_ADDR=0.0.0.0:8000

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
COPY core/ core/
COPY accounts/ accounts/
COPY clickpesa/ clickpesa/
COPY payments/ payments/
COPY revenue/ revenue/
COPY notifications/ notifications/
COPY monitoring/ monitoring/
COPY backoffice/ backoffice/
COPY devtools/ devtools/
COPY templates/ templates/
COPY locale/ locale/

# Settings need a key with DEBUG off; this one exists only for this build step.
RUN DEBUG=false SECRET_KEY=collectstatic-build-step-only python manage.py collectstatic --noinput

USER blinno
EXPOSE 8000
# The deployment checks first: a missing CLICKPESA_CHECKSUM_KEY, an undelivering email backend or
# an open /metrics stops the container here. Workers and threads: WEB_CONCURRENCY, WEB_THREADS.
CMD ["sh", "-c", "python manage.py check --deploy && exec gunicorn --config blinno/gunicorn_conf.py blinno.wsgi:application"]
