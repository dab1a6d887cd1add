"""The router alone: carrier filter, primary before backup, channel groups with the fallback to default, and the
smooth weighted round-robin."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hongyan.workers.routing import Route, Router

MOBILE = frozenset({"mobile"})


@dataclass
class Ch:
    name: str
    available: bool = True
    connected: bool = True


def _route(name: str, carriers=MOBILE, priority: str = "primary", group: str = "default", weight: int = 1) -> Route:
    return Route(Ch(name), frozenset(carriers), priority, group, weight)


def _names(router: Router, n: int, carrier: str = "mobile", group: str = "default") -> Counter[str]:
    return Counter(router.pick(carrier, group).name for _ in range(n))


def test_carrier_filter_and_any_carrier() -> None:
    router = Router([_route("m"), _route("u", {"unicom"}), _route("all", ())])
    assert _names(router, 4, "unicom") == {"u": 2, "all": 2}
    assert _names(router, 2, "telecom") == {"all": 2}
    assert Router([_route("m")]).pick("telecom") is None


def test_primary_before_backup_and_exclude() -> None:
    p, b = _route("p"), _route("b", priority="backup")
    router = Router([b, p])
    assert _names(router, 5) == {"p": 5}
    assert router.pick("mobile", exclude=frozenset({"p"})) is b.channel
    assert router.available_elsewhere("mobile", exclude=frozenset({"p"}))
    p.channel.available = False
    assert router.pick("mobile") is b.channel
    b.channel.available = False  # neither available: the connected primary is used rather than nothing
    assert router.pick("mobile") is p.channel
    assert not router.available_elsewhere("mobile", exclude=frozenset({"p"}))
    p.channel.connected = b.channel.connected = False
    assert router.pick("mobile") is None


def test_account_group_routes_only_in_its_group() -> None:
    router = Router([_route("d"), _route("v1", group="vip"), _route("v2", group="vip", priority="backup")])
    assert _names(router, 4, group="vip") == {"v1": 4}
    assert _names(router, 4) == {"d": 4}
    assert router.pick("mobile", "vip", exclude=frozenset({"v1"})).name == "v2"
    # the group's channels failed or are down: the message does not spill into default
    assert router.pick("mobile", "vip", exclude=frozenset({"v1", "v2"})) is None
    assert not router.available_elsewhere("mobile", "vip", frozenset({"v1", "v2"}))
    for r in router.routes[1:]:
        r.channel.available = r.channel.connected = False
    assert router.pick("mobile", "vip") is None


def test_group_without_a_channel_for_the_carrier_uses_default() -> None:
    router = Router([_route("d", {"mobile", "unicom"}), _route("v", group="vip")])
    assert router.group_for("mobile", "vip") == "vip" and router.group_for("unicom", "vip") == "default"
    assert router.pick("unicom", "vip").name == "d"
    assert router.pick("mobile", "nosuchgroup").name == "d"
    assert router.available_elsewhere("unicom", "vip")


def test_reload_changes_the_groups() -> None:
    router = Router([_route("d")])
    assert router.pick("mobile", "vip").name == "d"
    router.routes = [_route("d"), _route("v", group="vip")]
    assert router.pick("mobile", "vip").name == "v"


def test_weights_three_to_one_exactly() -> None:
    router = Router([_route("a", weight=3), _route("b", weight=1), _route("c", priority="backup", weight=9)])
    assert [router.pick("mobile").name for _ in range(4)] == ["a", "a", "b", "a"]  # smooth: b is not last in a run
    assert _names(router, 400) == {"a": 300, "b": 100}


def test_weights_within_the_group_and_when_one_goes_down() -> None:
    a, b, c = _route("a", group="vip", weight=2), _route("b", group="vip", weight=1), _route("c", group="vip")
    router = Router([a, b, c, _route("d", weight=100)])
    assert _names(router, 400, group="vip") == {"a": 200, "b": 100, "c": 100}
    c.channel.available = c.channel.connected = False
    assert _names(router, 300, group="vip") == {"a": 200, "b": 100}
    c.channel.available = c.channel.connected = True
    assert _names(router, 400, group="vip") == {"a": 200, "b": 100, "c": 100}


def test_weights_among_backups() -> None:
    p = _route("p")
    router = Router([p, _route("b1", priority="backup", weight=1), _route("b2", priority="backup", weight=3)])
    p.channel.available = p.channel.connected = False
    assert _names(router, 40) == {"b1": 10, "b2": 30}
