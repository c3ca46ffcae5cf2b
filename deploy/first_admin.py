"""Create the first admin when the database has no user at all; say so and do nothing otherwise.

Reads DJANGO_SUPERUSER_USERNAME (default ``admin``), DJANGO_SUPERUSER_EMAIL and the password from
DJANGO_SUPERUSER_PASSWORD or DJANGO_SUPERUSER_PASSWORD_FILE (a Docker secret). Safe to run on every
start: an existing user, a missing password or a second replica racing this one never stops the
dashboard from starting. A password the validators refuse (AUTH_PASSWORD_VALIDATORS: too short, too
common, all digits, too close to the name) does, with the reason and exit status 2, before any user
is created: a dashboard that holds a manager's socket should not start with a weak admin.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> int:
    # run as a script, its own folder is on sys.path; the project is one level up
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "visualizer.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    from visualizer.env import env_optional, env_str

    users = get_user_model()
    if users.objects.exists():
        print("first_admin: users exist; nothing to do", file=sys.stderr)
        return 0
    password = env_optional("DJANGO_SUPERUSER_PASSWORD")
    username = env_str("DJANGO_SUPERUSER_USERNAME", "admin")
    if password is None:
        print(
            "first_admin: no user yet and no DJANGO_SUPERUSER_PASSWORD(_FILE): nobody can sign in until one is "
            "created (docker exec -it CONTAINER python manage.py createsuperuser)",
            file=sys.stderr,
        )
        return 0
    email = env_str("DJANGO_SUPERUSER_EMAIL", "")
    try:
        # create_superuser() takes any password: the admin of a manager's socket gets the validators' verdict
        validate_password(password, users(username=username, email=email))
    except ValidationError as e:
        print(
            f"first_admin: DJANGO_SUPERUSER_PASSWORD(_FILE) is refused: {' '.join(e.messages)} "
            "Choose another one; nothing was created.",
            file=sys.stderr,
        )
        return 2
    try:
        with transaction.atomic():
            users.objects.create_superuser(username=username, email=email, password=password)
    except IntegrityError:  # created meanwhile by another process on the same database
        print(f"first_admin: {username!r} exists already", file=sys.stderr)
        return 0
    print(f"first_admin: created the admin {username!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
