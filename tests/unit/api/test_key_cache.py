"""The container's cache of authenticated API keys: bounded in time and size, never holding a secret."""

from __future__ import annotations

from datetime import UTC, datetime

from functions.api.key_cache import ApiKeyCache
from shared.domain.models import ApiKeyPublic


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def api_key(tenant_id: str = "acme") -> ApiKeyPublic:
    return ApiKeyPublic(
        key_id=f"key-{tenant_id}",
        tenant_id=tenant_id,
        name="tests",
        prefix="rs_abcde",
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )


def test_a_key_is_served_until_it_expires() -> None:
    clock = Clock()
    cache = ApiKeyCache(clock=clock)
    cache.put("rs_secret", api_key(), ttl_seconds=60)
    clock.now += 59.9
    assert cache.get("rs_secret") == api_key()
    clock.now += 0.1
    assert cache.get("rs_secret") is None
    clock.now -= 30  # an expired entry is gone, not merely hidden
    assert cache.get("rs_secret") is None


def test_unknown_secrets_and_a_zero_ttl_are_not_cached() -> None:
    cache = ApiKeyCache(clock=Clock())
    assert cache.get("rs_unknown") is None
    cache.put("rs_secret", api_key(), ttl_seconds=0)
    assert cache.get("rs_secret") is None


def test_the_oldest_entries_make_room() -> None:
    cache = ApiKeyCache(max_entries=2, clock=Clock())
    for tenant in ("a", "b", "c"):
        cache.put(f"rs_{tenant}", api_key(tenant), ttl_seconds=60)
    assert cache.get("rs_a") is None
    assert cache.get("rs_b") == api_key("b")
    assert cache.get("rs_c") == api_key("c")


def test_putting_a_key_again_renews_it() -> None:
    clock = Clock()
    cache = ApiKeyCache(max_entries=2, clock=clock)
    cache.put("rs_a", api_key("a"), ttl_seconds=60)
    cache.put("rs_b", api_key("b"), ttl_seconds=60)
    clock.now += 50
    cache.put("rs_a", api_key("a"), ttl_seconds=60)
    cache.put("rs_c", api_key("c"), ttl_seconds=60)  # evicts b, now the oldest
    assert cache.get("rs_b") is None
    clock.now += 50
    assert cache.get("rs_a") == api_key("a")


def test_secrets_are_not_kept_and_clear_forgets_everything() -> None:
    cache = ApiKeyCache(clock=Clock())
    cache.put("rs_secret", api_key(), ttl_seconds=60)
    assert "rs_secret" not in repr(cache._entries)
    cache.clear()
    assert cache.get("rs_secret") is None
