"""API keys this container authenticated recently, so that a warm request skips the lookup in MongoDB.

Bounded in time and size: an entry lasts `RS_API_KEY_CACHE_SECONDS` (a revoked key stops working
within that time; 0 turns the cache off) and the oldest entries make room for new ones. Only keys that
were found are kept, so a new key works at once and an unknown one is looked up every time. Entries
are keyed by the key's hash: the secret itself is never kept.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from shared.domain.models import ApiKeyPublic
from shared.store.api_keys import hash_api_key

MAX_ENTRIES = 1024


class ApiKeyCache:
    """Authenticated keys by hash, each until its expiry."""

    def __init__(
        self, *, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, ApiKeyPublic]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, secret: str) -> ApiKeyPublic | None:
        """The key authenticated for `secret`, unless it was never cached or has expired."""
        digest = hash_api_key(secret)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            expires, key = entry
            if self.clock() >= expires:
                del self._entries[digest]
                return None
            return key

    def put(self, secret: str, key: ApiKeyPublic, *, ttl_seconds: float) -> None:
        """Remember an authenticated key for `ttl_seconds` (not at all when it is 0)."""
        if ttl_seconds <= 0:
            return
        digest = hash_api_key(secret)
        with self._lock:
            self._entries.pop(digest, None)
            self._entries[digest] = (self.clock() + ttl_seconds, key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every key."""
        with self._lock:
            self._entries.clear()


api_keys = ApiKeyCache()
