"""WSGI entry point (gunicorn blinno.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinno.settings")
application = get_wsgi_application()
