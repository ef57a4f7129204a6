"""Agent tokens: random, shown once, kept only as SHA-256 hashes, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "sha256:"
FILE_HASH = re.compile(re.escape(PREFIX) + "[0-9a-f]{64}")  # what file_hash() gives


def mint() -> str:
    """A new token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """The hex SHA-256 of a token, as the database keeps it."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def file_hash(token: str) -> str:
    """The form team.yaml keeps: 'sha256:<hex>'."""
    return PREFIX + digest(token)


def matches_any(token_digest: str, file_hashes: tuple[str, ...]) -> bool:
    """Does the digest equal one of the declared hashes? Every hash is compared, in constant time."""
    found = False
    for declared in file_hashes:
        found |= hmac.compare_digest(token_digest, declared.removeprefix(PREFIX))
    return found
