"""A client's rate-limit budget is keyed by its address in one spelling: IPv4-mapped IPv6 counts as the IPv4
address, and IPv6 addresses share a budget per /64 (what one host or one subscriber usually holds)."""

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from app.addresses import rate_key

v4 = st.ip_addresses(v=4)
v6 = st.ip_addresses(v=6).filter(lambda address: address.ipv4_mapped is None)
low_bits = st.integers(0, 2**64 - 1)


def test_examples() -> None:
    assert rate_key("2001:DB8::7") == rate_key("2001:0db8::7") == rate_key("2001:db8::7") == "2001:db8::/64"
    assert rate_key("::ffff:1.2.3.4") == rate_key("1.2.3.4") == "1.2.3.4"
    assert rate_key("2001:db8::1") == rate_key("2001:db8::ffff:1")
    assert rate_key("2001:db8:0:1::1") != rate_key("2001:db8::1")
    assert rate_key(None) == rate_key("") == "unknown"
    assert rate_key("testclient") == "testclient"


@given(address=v4)
def test_an_ipv4_address_has_one_key_however_it_is_written(address: ipaddress.IPv4Address) -> None:
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert rate_key(str(address)) == rate_key(f"::ffff:{address}") == rate_key(mapped.exploded.upper()) \
        == str(address)


@given(address=v6, other_low=low_bits)
def test_ipv6_addresses_share_a_key_per_64(address: ipaddress.IPv6Address, other_low: int) -> None:
    neighbour = ipaddress.IPv6Address((int(address) >> 64 << 64) | other_low)
    if neighbour.ipv4_mapped is not None:
        return
    assert rate_key(address.compressed) == rate_key(address.exploded) == rate_key(address.exploded.upper()) \
        == rate_key(neighbour.compressed)


@given(first=v6 | v4, second=v6 | v4)
def test_different_networks_get_different_keys(first: ipaddress.IPv4Address | ipaddress.IPv6Address,
                                               second: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    def network(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> object:
        return address if address.version == 4 else ipaddress.IPv6Network((address, 64), strict=False)

    if network(first) != network(second):
        assert rate_key(str(first)) != rate_key(str(second))


@given(host=st.text(max_size=300))
def test_any_text_gives_a_short_key(host: str) -> None:
    key = rate_key(host)
    assert isinstance(key, str) and 0 < len(key) <= 64
