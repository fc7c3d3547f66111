"""What the core reports; entry points map these to HTTP statuses or exit codes."""


class DomainError(Exception):
    """Base of every expected failure of a use case."""


class InvalidFields(DomainError):
    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems.items()))
        self.problems = problems


class EmailTaken(DomainError):
    def __init__(self) -> None:
        super().__init__("a user with this email already exists")


class InvalidCredentials(DomainError):
    def __init__(self) -> None:
        super().__init__("invalid email or password")


class UnknownToken(DomainError):
    def __init__(self) -> None:
        super().__init__("this verification link is not known: check that it was copied whole")


class ExpiredToken(DomainError):
    def __init__(self) -> None:
        super().__init__("this verification link has expired")


class AccountDeactivated(InvalidCredentials):
    """A login (or link) refused for good. A kind of InvalidCredentials, so an entry point that does not tell
    the two apart (the dashboard's login form) refuses it as such rather than failing; the API answers 403."""

    def __init__(self) -> None:
        DomainError.__init__(self, "this account was deactivated because its email address was not verified in "
                                   "time")


class EmailNotVerified(DomainError):
    def __init__(self) -> None:
        super().__init__("verify your email address first: open the link in the mail we sent you")
