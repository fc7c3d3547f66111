"""Registration, login, logout and the current user."""

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlmodel import Session

from app.api.schemas import LoginOut, LoginRequest, MeOut, RegisterRequest, UserOut
from app.api.security import rate_limited
from app.auth import accounts
from app.auth.accounts import Login, Principal
from app.bootstrap import Container

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def _login_out(login: Login) -> LoginOut:
    return LoginOut(user=UserOut.of(login.user), access_token=login.token, expires_at=login.expires_at,
                    workflow_run_id=login.workflow_run_id)


class UserRoutes(Controller):
    path = "/api/users"
    tags = ["users"]

    @post("/", guards=[rate_limited("register")], sync_to_thread=True, summary="Register and log in")
    def register(self, data: JSONBody[RegisterRequest], db: NamedDependency[Session],
                 container: NamedDependency[Container]) -> LoginOut:
        login = accounts.register(db, container.passwords, container.runner, email=data.email, name=data.name,
                                  password=data.password, session_ttl=container.settings.auth.session_ttl)
        return _login_out(login)

    @get("/me", sync_to_thread=False, security=BEARER, summary="The logged-in user")
    def me(self, principal: NamedDependency[Principal]) -> MeOut:
        return MeOut.of(principal.user)


class SessionRoutes(Controller):
    path = "/api/sessions"
    tags = ["sessions"]

    @post("/", guards=[rate_limited("login")], sync_to_thread=True, summary="Log in")
    def log_in(self, data: JSONBody[LoginRequest], db: NamedDependency[Session],
                 container: NamedDependency[Container]) -> LoginOut:
        login = accounts.log_in(db, container.passwords, email=data.email, password=data.password,
                                session_ttl=container.settings.auth.session_ttl)
        return _login_out(login)

    @delete("/current", sync_to_thread=True, security=BEARER, summary="Log out: revoke this token")
    def log_out(self, principal: NamedDependency[Principal], bearer_token: NamedDependency[str],
                db: NamedDependency[Session]) -> None:
        accounts.log_out(db, bearer_token)
