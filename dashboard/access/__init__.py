"""Who may see and do what: roles, kiosk tokens, anonymous viewing, and the audit log.

Roles are Django groups holding dashboard.Access permissions:
  viewer    the grid, the wall, task details (env values masked), logs
  operator  also reveals env values and writes secrets
  admin     also manages users and kiosk tokens, reads the audit log (and is staff: the Django admin)
Every active signed-in user may view; the groups add the rest.

A kiosk token opens the grid and the wall and their websocket, read-only, and nothing else: its
URL is exchanged for a session cookie on first use, and read-only screens are sent only what the
grid and the wall draw (dashboard.live.views).

The rooms: ``roles`` (groups and permissions), ``kiosk`` (tokens), ``viewers`` (who is looking),
``audit`` (the log), ``middleware`` (security headers, a trusted proxy's user), ``accesslog``
(requests logged with kiosk tokens masked), ``forms`` (the throttled sign-in).
"""

from dashboard.access.audit import audit, audit_admin_change, known_user
from dashboard.access.kiosk import (
    KIOSK_PARAM,
    SESSION_KEY,
    TOKEN_PREFIX,
    create_token,
    kiosk_id_of,
    revoke_token,
    token_group,
    token_is_live,
    use_token,
)
from dashboard.access.roles import ROLES, ensure_roles, role_of, set_role
from dashboard.access.viewers import Viewer, remote_addr, viewer_for

__all__ = [
    "KIOSK_PARAM",
    "ROLES",
    "SESSION_KEY",
    "TOKEN_PREFIX",
    "Viewer",
    "audit",
    "audit_admin_change",
    "create_token",
    "ensure_roles",
    "kiosk_id_of",
    "known_user",
    "remote_addr",
    "revoke_token",
    "role_of",
    "set_role",
    "token_group",
    "token_is_live",
    "use_token",
    "viewer_for",
]
