"""Settings for ``manage.py agent``: the node agent runs on every node with none of the dashboard's
secrets, database or data folder. Its own settings are read by dashboard.agent.config, not here."""

from __future__ import annotations

import secrets

from visualizer.env import env_str

# never used to sign anything: Django only refuses to start without one
SECRET_KEY = secrets.token_urlsafe(50)
DEBUG = False
# the dashboard's app holds the command; its ready() imports the admin's and auth's models
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "dashboard",
]
DATABASES: dict[str, dict[str, object]] = {}  # the agent keeps nothing: any query fails loudly
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
