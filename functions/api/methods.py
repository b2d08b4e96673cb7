"""Which methods a path has: the `Allow` of a 405 lists them all, and `OPTIONS` answers with them.

FastAPI declares one route per method, so Starlette's own 405 names only the first route whose path
matched (GET of `/resources/{id}`, not its PATCH and DELETE), and it answers OPTIONS with that 405.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

# The methods a route may take, in the order an `Allow` header lists them.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(routes: list[BaseRoute], scope: Scope) -> list[str]:
    """The methods the routes take at the scope's path, OPTIONS included; empty when no route matches."""
    # Asked method by method through each route's own matching: routers included into the app are
    # routes of their own that match for their sub-routes.
    methods = [
        method
        for method in METHODS
        if any(
            route.matches({**scope, "type": "http", "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return [*methods, "OPTIONS"] if methods else []


class OptionsResponder:
    """Answer `OPTIONS` on a path the app serves with 204 and its `Allow`."""

    # Added inside the CORS middleware, which answers preflights (OPTIONS with an Origin) first.

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            router = scope.get("app")
            methods = allowed_methods(getattr(router, "routes", []), scope)
            if methods:
                await Response(status_code=204, headers={"Allow": ", ".join(methods)})(scope, receive, send)
                return
        await self.app(scope, receive, send)
