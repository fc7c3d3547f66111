"""Secrets out of what is printed and logged: URL passwords and credential-like query parameters, masked."""

from urllib.parse import unquote_plus, urlsplit, urlunsplit

MASK = "***"
SECRET_NAMES = frozenset({"pass", "pwd", "key", "auth", "sig", "signature", "credential", "credentials", "apikey",
                          "session", "sessionid", "code"})
SECRET_ENDINGS = ("password", "passwd", "secret", "token", "_key", "apikey")


def is_secret_name(name: str) -> bool:
    """``password``, ``access_token``, ``API-Key``, ``client_secret``...: the name of a credential, in any case."""
    name = name.strip().lower().replace("-", "_")
    return name in SECRET_NAMES or name.endswith(SECRET_ENDINGS)


def redact_query(query: str) -> str:
    """``query`` (``a=1&token=x``) with the value of every credential-like parameter replaced by ``***``."""
    if not query:
        return query
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        pairs.append(f"{name}={MASK}" if equals and value and is_secret_name(unquote_plus(name)) else pair)
    return "&".join(pairs)


def redact_url(url: str) -> str:
    """``url`` (or a path with a query) with any password and credential-like query value masked, safe to log
    or print; a URL that does not parse is masked whole, since where its secrets are cannot be known."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return MASK
    netloc = parts.netloc
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")  # the host as written: brackets and case kept
        netloc = f"{userinfo.partition(':')[0]}:{MASK}@{host}"
    query, fragment = redact_query(parts.query), redact_query(parts.fragment)
    if (netloc, query, fragment) == (parts.netloc, parts.query, parts.fragment):
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment=fragment))
