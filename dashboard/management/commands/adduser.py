"""`manage.py adduser NAME --role viewer|operator|admin`: a user with a role, in one step."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dashboard import access


class Command(BaseCommand):
    help = "Create a user (or change an existing user's role) with one of the roles viewer, operator, admin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=sorted(access.ROLES), default="viewer")
        parser.add_argument(
            "--password-file", help="read the password from this file (else $ADDUSER_PASSWORD, else a prompt)"
        )

    def handle(self, *args: Any, username: str, role: str, password_file: str | None, **options: Any) -> None:
        model = get_user_model()
        # the name as it is stored and signed in with: sign-in strips it and normalises it to NFKC
        name = model.normalize_username(username.strip())
        if not name:
            raise CommandError("the user name is empty")
        user = model.objects.filter(username=name).first()
        if name != username:
            if user is not None:
                raise CommandError(
                    f"{username!r} is the name of the existing user {name!r} once normalised (sign-in strips names "
                    f"and normalises them to NFKC): give that name to change that user"
                )
            self.stderr.write(f"{username!r} is stored as {name!r} (sign-in strips names and normalises them to NFKC)")
        username = name
        password = self._password(password_file, needed=user is None)
        if password is not None:
            try:
                # checked before a new user is saved: a refused password leaves no half-made account behind
                validate_password(password, user if user is not None else model(username=username))
            except ValidationError as e:
                raise CommandError(" ".join(e.messages)) from None
        if user is None:
            user = model.objects.create_user(username=username)
        if password is not None:
            user.set_password(password)
        access.set_role(user, role)
        access.audit("manage.py", "user.role", username, role=role)
        self.stdout.write(f"{username}: role {role}")

    def _password(self, path: str | None, *, needed: bool) -> str | None:
        if path:
            try:
                return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as e:
                raise CommandError(f"cannot read {path}: {e.strerror}") from None
        if os.environ.get("ADDUSER_PASSWORD"):
            return os.environ["ADDUSER_PASSWORD"]
        if not needed:
            return None
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("the passwords differ")
        return first
