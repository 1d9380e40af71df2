"""One exception hierarchy for the kit; the CLI maps each family to one exit code."""

from __future__ import annotations


class CtkError(Exception):
    """Base of every error the kit raises on purpose."""

    exit_code = 2


class UsageError(CtkError):
    """The command line asks for something impossible (conflicting or invalid options)."""


class ConfigError(CtkError):
    """The configuration file or an option value is invalid."""


class ScenarioError(CtkError):
    """A scenario file is malformed; the message names the file, line and problem."""


class SchemaError(CtkError):
    """A bundled or referenced JSON Schema is missing or broken."""


class TokenEndpointError(CtkError):
    """The OAuth2 token endpoint issued no token before the run (refused, unreachable, unreadable)."""

    exit_code = 3


class OutputError(CtkError):
    """The evidence could not be written after the run (disk full, permissions changed)."""

    exit_code = 3


class SelftestError(CtkError):
    """A self-check run did not end within its bound (its process printed every thread's stack), or
    its process died: a kit defect to report, not a verdict."""

    exit_code = 3
