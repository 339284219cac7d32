"""Retry throttling as gRFC A6 specifies it for gRPC clients.

A token count starts at `max_tokens`. Every failed attempt takes 1 away, every successful
one gives `token_ratio` back (never above `max_tokens`). Retries are allowed only while
the count is above half of `max_tokens`. So when most calls fail, retries stop, and the
extra load retries can add is bounded: about `token_ratio` retries per success, plus the
burst the tokens above the threshold allow.
"""

from __future__ import annotations


class RetryBudget:
    def __init__(self, max_tokens: float = 10.0, token_ratio: float = 0.1) -> None:
        if max_tokens <= 0 or not 0 < token_ratio <= max_tokens:
            raise ValueError(
                f"a retry budget needs max_tokens > 0 and 0 < token_ratio <= "
                f"max_tokens, not {max_tokens}, {token_ratio}"
            )
        self.max_tokens = max_tokens
        self.token_ratio = token_ratio
        self.tokens = max_tokens

    def on_success(self) -> None:
        self.tokens = min(self.max_tokens, self.tokens + self.token_ratio)

    def on_failure(self) -> None:
        self.tokens = max(0.0, self.tokens - 1)

    def allows_retry(self) -> bool:
        return self.tokens > self.max_tokens / 2
