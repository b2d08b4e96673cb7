"""What a generator returns: a draft wrapper and the exchanges with a model that produced it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shared.domain.wrapper import WrapperDraft

ExchangeRole = Literal["system", "prompt", "response", "tool_call", "tool_result", "error"]


class Exchange(BaseModel):
    """One message between the service and a model (prompt, response, tool call or tool result)."""

    attempt: int
    role: ExchangeRole
    text: str


class Generation(BaseModel):
    """A draft wrapper and every exchange that produced it."""

    draft: WrapperDraft
    exchanges: list[Exchange] = Field(default_factory=list)
