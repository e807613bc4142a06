"""One error hierarchy for the agent; each error carries its process exit code.

Messages are single lines that name the setting, field or object at fault.
Exit codes follow sysexits.h so that systemd can tell them apart
(the unit sets RestartPreventExitStatus for the ones a restart cannot fix).
"""

EXIT_OK = 0
EXIT_FAILURE = 1  # unexpected internal error (a bug: please report it)
EXIT_USAGE = 2  # bad command line (argparse)
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: `once` could not reach the cluster (or the node is unknown)
EXIT_IOERR = 74  # EX_IOERR: display/GPIO unusable (library missing, no permission)
EXIT_NOPERM = 77  # EX_NOPERM: `once` was refused: ACL token or Kubernetes credentials (401, 403)
EXIT_CONFIG = 78  # EX_CONFIG: bad config file, environment or flag value


class AgentError(Exception):
    """Base class: str(err) is the one-line message shown to the user."""

    exit_code = EXIT_FAILURE


class ConfigError(AgentError, ValueError):
    """A setting is unknown, of the wrong type or out of range."""

    exit_code = EXIT_CONFIG


class DisplayError(AgentError, OSError):
    """The display cannot be used (GPIO library missing, no permission)."""

    exit_code = EXIT_IOERR


# --- what a source (Nomad, Kubernetes) can run into: neutral, so that view and once need
# --- no source's module. Each message says which server and what it answered.


class SourceError(AgentError):
    """Base: the cluster's API could not give us what we asked for."""

    exit_code = EXIT_UNAVAILABLE
    kind = "error"


class Unreachable(SourceError, ConnectionError):
    """No answer: refused, timed out, TLS failed, or the name did not resolve."""

    kind = "unreachable"


class ServerError(SourceError):
    kind = "server error"


class BadResponse(SourceError, ValueError):
    kind = "bad response"


class NodeUnknown(SourceError, LookupError):
    """The node to show does not exist there (or what we asked for is not found)."""

    kind = "node unknown"


class AmbiguousNode(NodeUnknown):
    """Several live registrations share the node name: none can be picked."""

    kind = "ambiguous node"


class AccessDenied(SourceError, PermissionError):
    """The credentials were refused (401) or lack a permission (403)."""

    exit_code = EXIT_NOPERM
    kind = "access denied"
