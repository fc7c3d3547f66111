"""Registration, email verification, login, logout and the current user."""

from typing import Annotated

from litestar import Controller, MediaType, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from sqlmodel import Session

from app.api import verify_page
from app.api.responses import JSON_BODY, pages, problems
from app.api.schemas import (
    TOKEN_PATTERN,
    LoginOut,
    LoginRequest,
    MeOut,
    RegisterRequest,
    UserOut,
    VerifiedOut,
    VerifyRequest,
)
from app.api.security import rate_limited
from app.auth import accounts, verification
from app.auth.accounts import Login, Principal
from app.auth.verification import Verified
from app.bootstrap import Container

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_VERIFY_WHY = {403: "The account was deactivated: its address was not verified in time", 404: "An unknown token",
               410: "An expired token", 422: "A malformed token"}


def _login_out(login: Login) -> LoginOut:
    return LoginOut(user=UserOut.of(login.user), access_token=login.token, expires_at=login.expires_at,
                    workflow_run_id=login.workflow_run_id)


def _verify(db: Session, container: Container, token: str) -> Verified:
    with db.begin():  # the token used, the user verified and the event's outbox row: all or nothing
        return verification.verify(db, token, container.clock.now(), container.plane)


class UserRoutes(Controller):
    path = "/api/users"
    tags = ["users"]

    @post("/", guards=[rate_limited("register")], sync_to_thread=True, summary="Register and log in",
          responses=problems(*JSON_BODY, 409, 429, 503, why={
              409: "A user with this email address exists already: errors names email",
              503: "A server it needs is unavailable, or registration's workflow is not loaded: nothing was saved; "
                   "Retry-After says when to try again"}))
    def register(self, data: JSONBody[RegisterRequest], db: NamedDependency[Session],
                 container: NamedDependency[Container]) -> LoginOut:
        login = accounts.register(db, container.passwords, container.runner, email=data.email, name=data.name,
                                  password=data.password, session_ttl=container.settings.auth.session_ttl)
        return _login_out(login)

    @post("/verify", guards=[rate_limited("verify")], sync_to_thread=True, status_code=200,
          summary="Verify an email address with the token from the mail's link",
          description="Idempotent: the same token again answers the same. 422 for a malformed token, 404 for an "
                      "unknown one, 410 for an expired one, 403 for a deactivated account.",
          responses=problems(403, 404, 410, *JSON_BODY, 429, 503, why=_VERIFY_WHY))
    def verify(self, data: JSONBody[VerifyRequest], db: NamedDependency[Session],
               container: NamedDependency[Container]) -> VerifiedOut:
        done = _verify(db, container, data.token)
        return VerifiedOut(user_id=done.user_id, email=done.email, email_verified_at=done.email_verified_at)

    @get("/verify", guards=[rate_limited("verify")], sync_to_thread=True, media_type=MediaType.HTML,
         exception_handlers=verify_page.EXCEPTION_HANDLERS, summary="The mail's verification link: an HTML page",
         description="The same as POST /api/users/verify, answered with a small page for a browser.",
         responses=pages(403, 404, 410, 422, 429, 503, why={**_VERIFY_WHY, 422: "A malformed or missing token"}))
    def verify_link(self, db: NamedDependency[Session], container: NamedDependency[Container],
                    token: Annotated[str, QueryParameter(description="The token the mail's link carries",
                                                         schema_extra={"pattern": TOKEN_PATTERN})]) -> Response[str]:
        return verify_page.verified(_verify(db, container, token))

    @get("/me", sync_to_thread=False, security=BEARER, summary="The logged-in user", responses=problems(401, 503))
    def me(self, principal: NamedDependency[Principal]) -> MeOut:
        return MeOut.of(principal.user)


class SessionRoutes(Controller):
    path = "/api/sessions"
    tags = ["sessions"]

    @post("/", guards=[rate_limited("login")], sync_to_thread=True, summary="Log in",
          description="403 for a deactivated account, or an unverified one when auth.require_verified_email is on "
                      "(only once the password is right).",
          responses=problems(401, 403, *JSON_BODY, 429, 503, why={
              401: "Wrong email address or password (WWW-Authenticate: Bearer)",
              403: "A deactivated account, or an unverified one where auth.require_verified_email is on"}))
    def log_in(self, data: JSONBody[LoginRequest], db: NamedDependency[Session],
                 container: NamedDependency[Container]) -> LoginOut:
        auth = container.settings.auth
        login = accounts.log_in(db, container.passwords, email=data.email, password=data.password,
                                session_ttl=auth.session_ttl, require_verified=auth.require_verified_email)
        return _login_out(login)

    @delete("/current", sync_to_thread=True, security=BEARER, summary="Log out: revoke this token",
            responses=problems(401, 503))
    def log_out(self, principal: NamedDependency[Principal], bearer_token: NamedDependency[str],
                db: NamedDependency[Session]) -> None:
        accounts.log_out(db, bearer_token)
