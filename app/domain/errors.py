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
