"""Security headers, and the opt-in trust of a reverse proxy's user header."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse

from dashboard.access.proxies import is_trusted, parse_address, peer

# no inline script anywhere: the only scripts are files from 'self'; JSON data blocks do not execute
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class SecurityHeadersMiddleware:
    """The CSP on every response (Django's SecurityMiddleware adds referrer policy and HSTS)."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if iscoroutinefunction(self):
            return self._acall(request)
        return self._headers(self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return self._headers(await self.get_response(request))

    @staticmethod
    def _headers(response: HttpResponse) -> HttpResponse:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


def _networks(entries: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(e, strict=False) for e in entries]


class TrustedProxyUserMiddleware:
    """Signs in the user a reverse proxy names in PROXY_USER_HEADER - only when the connection's peer
    (the proxy that wrote the header, never an address read from X-Forwarded-For) is in
    PROXY_USER_TRUSTED (off by default). Unknown names become viewers."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.header = settings.PROXY_USER_HEADER
        self.trusted = _networks(settings.PROXY_USER_TRUSTED)
        self.meta_key = "HTTP_" + self.header.upper().replace("-", "_") if self.header else ""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.header and self.trusted:
            self._sign_in(request)
        return self.get_response(request)

    def _sign_in(self, request: HttpRequest) -> None:
        name = str(request.META.get(self.meta_key, "")).strip()
        if not name or not self._from_trusted_proxy(request):
            return
        user = request.user
        if user.is_authenticated and user.get_username() == name:
            return
        from dashboard.access import audit, remote_addr, set_role

        model = get_user_model()
        found = model.objects.filter(username=name).first()
        if found is None:
            found = model.objects.create_user(username=name[:150])
            found.set_unusable_password()
            set_role(found, "viewer")
            audit(name, "user.create", name, remote_addr=remote_addr(request), via="proxy header")
        if not found.is_active:
            return
        auth.login(request, found, backend="django.contrib.auth.backends.ModelBackend")

    def _from_trusted_proxy(self, request: HttpRequest) -> bool:
        return is_trusted(parse_address(peer(request)), self.trusted)
