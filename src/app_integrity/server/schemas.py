"""Request and response bodies of the v1 protocol (DESIGN.md §3), as they appear in the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Base64Text = Annotated[str, Field(min_length=1, max_length=200_000, description="base64, either alphabet")]
Subject = Annotated[str, Field(min_length=1, max_length=256)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ChallengeRequest(_Body):
    subject: Subject | None = None
    purpose: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class ChallengeResponse(BaseModel):
    challenge: str
    expiresAt: str


class AppleKeyRequest(_Body):
    keyId: Annotated[str, Field(min_length=1, max_length=100)]
    attestation: Base64Text
    challenge: Annotated[str, Field(min_length=1, max_length=200)]
    subject: Subject | None = None


class AppleKeyResponse(BaseModel):
    keyId: str
    environment: str


class AndroidKeyRequest(_Body):
    chain: Annotated[list[Base64Text], Field(min_length=1, max_length=10)]
    challenge: Annotated[str, Field(min_length=1, max_length=200)]
    subject: Subject | None = None


class AndroidKeyResponse(BaseModel):
    keyId: str
    tier: str
    session: str | None = None
    expiresAt: str | None = None


class SessionResponse(BaseModel):
    session: str
    expiresAt: str


class RequestDescription(_Body):
    method: Annotated[str, Field(min_length=1, max_length=32)]
    path: Annotated[str, Field(min_length=1, max_length=8192)]
    bodySha256: Annotated[str, Field(min_length=43, max_length=44)]


class VerifyRequest(_Body):
    action: Annotated[str, Field(min_length=1, max_length=64)]
    request: RequestDescription
    header: Annotated[str, Field(max_length=65536)] | None = None
    subject: Subject | None = None


class DecisionBody(BaseModel):
    outcome: Literal["allow", "limit", "block"]
    tier: Literal["strong", "device", "basic", "none"]
    reasons: list[str]
    platform: Literal["ios", "android"] | None
    keyId: str | None
    enforced: bool


class AssertionRequest(_Body):
    keyId: Annotated[str, Field(min_length=1, max_length=100)]
    assertion: Base64Text
    payload: Annotated[str, Field(min_length=1, max_length=65536)]
    action: Annotated[str, Field(min_length=1, max_length=64)]
    subject: Subject | None = None


class AssertionResponse(BaseModel):
    decision: DecisionBody
    payload: object


class KeyBody(BaseModel):
    keyId: str
    platform: Literal["ios", "android"]
    environment: str | None
    tier: str | None
    subject: str | None
    status: Literal["active", "revoked"]
    counter: int
    createdAt: str
    lastSeenAt: str | None


class KeyList(BaseModel):
    keys: list[KeyBody]


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
