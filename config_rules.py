"""The checks config.py's settings run, and the helpers beside them: each says what a
bad value is and what would be accepted, in one line (config.load_settings)."""

from __future__ import annotations

import ipaddress

from limits import parse_many
from limits.errors import ConfigurationError as LimitsConfigurationError
from limits.storage import storage_from_string
from pydantic import ValidationError


def check_http_url(url: str, hint: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{url!r} is not an http:// or https:// URL{hint}")
    return url


def check_origins(value: list[str]) -> list[str]:
    if "*" in value and len(value) > 1:
        raise ValueError("`*` allows every origin and must stand alone")
    for origin in value:
        if origin != "*" and not _is_origin(origin):
            raise ValueError(f"{origin!r} is not an origin: give scheme://host[:port], no path")
    return value


def check_rate_limit(value: str) -> str:
    if value.strip():
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                "give requests per period, like 600/minute or 600/minute;20/second"
            ) from None
    return value.strip()


def check_limit_storage(value: str) -> str:
    if value in ("", "database"):  # the database's own default, or the database
        return value
    try:
        storage_from_string(async_storage_url(value))
    except LimitsConfigurationError as exc:
        raise ValueError(f"not a storage the limits library has: {exc}") from None
    return value


def is_loopback(host: str) -> bool:
    """Only this machine can connect: localhost, 127.0.0.0/8 or ::1."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def async_storage_url(url: str) -> str:
    """The `limits` storage URL of its asyncio flavour (the service never blocks on it)."""
    return url if url.startswith("async+") else f"async+{url}"


def _is_origin(origin: str) -> bool:
    scheme, sep, rest = origin.partition("://")
    return bool(sep) and scheme in ("http", "https") and bool(rest) and "/" not in rest


class ConfigurationError(Exception):
    """Raised when the environment holds a value the service cannot run with."""


def describe_validation_error(error: ValidationError) -> str:
    """One line per bad variable: its name, the value given and what it accepts."""
    lines = []
    for item in error.errors():
        if not item["loc"]:  # a rule across settings names its variables itself
            lines.append(f"Invalid configuration: {item['msg'].removeprefix('Value error, ')}")
            continue
        name, given = str(item["loc"][0]).upper(), item.get("input")
        lines.append(f"Invalid configuration: {name}={given!r}: {item['msg']}")
    return "\n".join(lines)
