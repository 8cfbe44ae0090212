"""When and how long to wait before asking a registry again.

Retries are polite: exponential backoff with jitter (so that many clients do not retry in step),
the server's `Retry-After` honoured, and both the count and the total time bounded so that a
down registry turns into an error, not a hang.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Final

MAX_DELAY: Final = 30.0  # seconds: no single backoff sleeps longer
_NOT_TRANSIENT: Final = frozenset({501, 505})  # "not implemented" will not change on retry


def is_retryable_status(status: int) -> bool:
    """429 Too Many Requests and server errors that may pass."""
    return status == 429 or (status >= 500 and status not in _NOT_TRANSIENT)


def backoff_delay(attempt: int, base: float, rng: random.Random | None = None) -> float:
    """The sleep before retry number `attempt` (0 for the first): base·2^attempt, capped,
    jittered to between half and all of it."""
    delay = min(MAX_DELAY, base * (2**attempt))
    return (rng or random).uniform(delay / 2, delay)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks to wait (delay-seconds or an HTTP date); None when
    absent or unreadable. A date in the past means no wait."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now or datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())
