"""Client addresses as rate-limit keys: one spelling per address, and one budget per IPv6 /64, since one host or
one subscriber usually holds a whole /64 and could otherwise take a new budget with every address in it."""

import ipaddress

MAX_KEY = 64


def rate_key(host: str | None) -> str:
    """``1.2.3.4`` for it and ``::ffff:1.2.3.4``; ``2001:db8::/64`` for every address in that /64; anything that is
    not an address (a test client's name) as it is, cut short."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host.strip().removeprefix("[").removesuffix("]").partition("%")[0])
    except ValueError:
        return host[:MAX_KEY]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
