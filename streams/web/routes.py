"""Which route is on which listener, and the role each internal route needs: the worker's access policy in one
table (docs/security.md lists the same)."""

from __future__ import annotations

from aiohttp import web

from streams.settings import Settings
from streams.web.access import Access, Route
from streams.web.auth import OidcIssuer, Role
from streams.web.pages import Pages
from streams.web.server import application
from streams.web.session import ConsoleLogin
from streams.web.views import Views


def sign_in(settings: Settings) -> tuple[OidcIssuer | None, ConsoleLogin | None]:
    """The issuer tokens are checked against, and the console's sign-in with it (when a client is configured)."""
    if not settings.oidc_issuer:
        return None, None
    issuer = OidcIssuer(
        settings.oidc_issuer,
        audience=settings.oidc_audience,
        roles_claim=settings.oidc_roles_claim,
        leeway_s=settings.oidc_leeway_s,
    )
    if not settings.oidc_client_id:
        return issuer, None
    login = ConsoleLogin(
        issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        base_url=settings.internal_url,
        key=settings.session_key.get_secret_value(),
        ttl_s=settings.session_ttl_s,
    )
    return issuer, login


def public_app(views: Views, pages: Pages) -> web.Application:
    app = application(public=True)
    app.router.add_get("/help", pages.help)
    app.router.add_get("/static/{name}", pages.public_static)
    app.router.add_get("/search", views.public_search)
    app.router.add_get("/readyz", views.ready)
    return app


def internal_routes(views: Views, pages: Pages, login: ConsoleLogin | None) -> list[Route]:
    routes = [
        Route("GET", "/console", pages.console, Role.AGENT, page=True),
        Route("GET", "/console/models", pages.models, Role.OPERATOR, page=True),
        Route("GET", "/static/{name}", pages.static, None),
        Route("GET", "/console/whoami", pages.whoami, Role.AGENT),
        Route("GET", "/console/events", pages.events, Role.AGENT),
        Route("POST", "/console/feedback", pages.feedback, Role.AGENT),
        Route("GET", "/recommendations/{chat_id}", views.recommendations, Role.AGENT),
        Route("GET", "/search", views.agent_search, Role.AGENT),
        Route("GET", "/models", views.models, Role.OPERATOR),
        Route("GET", "/healthz", views.health, Role.MONITOR),
        Route("GET", "/metrics", views.prometheus, Role.MONITOR),
    ]
    if login is not None:
        routes += [
            Route("GET", "/console/login", login.login, None),
            Route("GET", "/console/callback", login.callback, None),
            Route("GET", "/console/logout", login.logout, None),
        ]
    return routes


def internal_app(
    settings: Settings, views: Views, pages: Pages, issuer: OidcIssuer | None, login: ConsoleLogin | None
) -> web.Application:
    access = Access(issuer, login, settings.internal_url)
    app = application(public=False, middlewares=[access.middleware])
    for route in internal_routes(views, pages, login):
        access.add(app, route)
    return app
