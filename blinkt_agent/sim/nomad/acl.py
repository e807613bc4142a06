"""Nomad ACLs: policies in HCL, tokens, and the checks the endpoints we serve make.

Modelled on hashicorp/nomad `acl/policy.go` (Parse, expandNamespacePolicy) and `acl/acl.go`
(NewACL, AllowAgentRead, AllowNodeRead, AllowNamespaceOperation with glob namespaces):
- `agent { policy = "read" }` and `node { policy = "read" }`: read or write allows reading;
  deny wins over everything when several policies are merged (maxPrivilege).
- `namespace "<name>" { policy = "read" capabilities = [...] }`: the policy is shorthand for
  capabilities ("read" gives list-jobs, parse-job, read-job, ...); "deny" clears the
  namespace. A name with "*" is a glob; a concrete name wins, else the closest glob
  (fewest characters matched by "*").
- a token is "management" (everything) or "client" with policy names; unknown policy names
  are ignored, as Nomad does (auth.go resolveACLFromToken).

The parser reads the HCL subset ACL policies use: blocks with an optional quoted label,
`key = "string"`, `key = ["a", "b"]`, and #, // and /* */ comments.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

POLICY_DENY, POLICY_READ, POLICY_LIST, POLICY_WRITE, POLICY_SCALE = (
    "deny",
    "read",
    "list",
    "write",
    "scale",
)
_VALID_POLICIES = (POLICY_DENY, POLICY_READ, POLICY_WRITE, POLICY_SCALE)  # isPolicyValid
_READ_CAPS = (
    "list-jobs",
    "parse-job",
    "read-job",
    "csi-list-volume",
    "csi-read-volume",
    "read-job-scaling",
    "list-scaling-policies",
    "read-scaling-policy",
    "host-volume-read",
)
_WRITE_CAPS = (
    *_READ_CAPS,
    "scale-job",
    "submit-job",
    "dispatch-job",
    "read-logs",
    "read-fs",
    "alloc-exec",
    "alloc-lifecycle",
    "csi-mount-volume",
    "csi-write-volume",
    "submit-recommendation",
    "host-volume-create",
)
_SCALE_CAPS = (
    "list-scaling-policies",
    "read-scaling-policy",
    "read-job-scaling",
    "scale-job",
    "read-job",
    "submit-recommendation",
)
_NAMESPACE_CAPS = frozenset(
    {
        "deny",
        *_WRITE_CAPS,
        "alloc-node-exec",
        "sentinel-override",
        "csi-register-plugin",
        "host-volume-register",
        "host-volume-write",
        "host-volume-delete",
        "register-job",
        "revert-job",
        "deregister-job",
        "purge-job",
        "evaluate-job",
        "plan-job",
        "tag-job-version",
        "stable-job",
        "fail-deployment",
        "pause-deployment",
        "promote-deployment",
        "unblock-deployment",
        "cancel-deployment",
        "set-alloc-health-deployment",
        "gc-allocation",
        "pause-allocation",
        "force-periodic-job",
        "delete-service-registration",
    }
)
_VALID_NAMESPACE = re.compile(r"^[a-zA-Z0-9-*]{1,128}$")
# Blocks a policy may hold that the endpoints we serve never consult.
_OTHER_BLOCKS = frozenset({"node_pool", "host_volume", "operator", "sentinel", "quota", "plugin"})


class PolicyError(ValueError):
    """A policy Nomad would refuse to store."""


# -- HCL subset -------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s+|\#[^\n]*|//[^\n]*|/\*.*?\*/
    |(?P<string>"(?:[^"\\\n]|\\.)*")
    |(?P<word>[A-Za-z_][A-Za-z0-9_.-]*)
    |(?P<punct>[={}\[\],])""",
    re.VERBOSE | re.DOTALL,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            line = text.count("\n", 0, pos) + 1
            raise PolicyError(f"Failed to parse ACL Policy: line {line}: unexpected {text[pos]!r}")
        pos = match.end()
        kind = match.lastgroup
        if kind == "string":
            out.append(("string", _unquote(match[kind])))
        elif kind:
            out.append((kind, match[kind]))
    return out


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), literal[1:-1])


class Block(list[tuple[str, str | None, object]]):
    """The body of a block: [(key, label, value)], apart from a list-of-strings value."""


def parse_hcl(text: str) -> Block:
    """[(key, label, value)] where value is a str, a list of str, or a Block."""
    body, _ = _body(_tokens(text), 0, top=True)
    return body


def _body(tokens: list[tuple[str, str]], pos: int, top: bool) -> tuple[Block, int]:
    items = Block()
    while pos < len(tokens):
        kind, value = tokens[pos]
        if kind == "punct" and value == "}" and not top:
            return items, pos + 1
        if kind != "word":
            raise PolicyError(f"Failed to parse ACL Policy: unexpected {value!r}")
        key, pos = value, pos + 1
        label = None
        if pos < len(tokens) and tokens[pos][0] == "string":
            label, pos = tokens[pos][1], pos + 1
        if pos >= len(tokens):
            raise PolicyError(f"Failed to parse ACL Policy: {key}: unexpected end")
        kind, value = tokens[pos]
        if (kind, value) == ("punct", "{"):
            block, pos = _body(tokens, pos + 1, top=False)
            items.append((key, label, block))
        elif (kind, value) == ("punct", "=") and label is None:
            attr, pos = _value(tokens, pos + 1, key)
            items.append((key, None, attr))
        else:
            raise PolicyError(f"Failed to parse ACL Policy: {key}: expected = or {{")
    if not top:
        raise PolicyError("Failed to parse ACL Policy: missing }")
    return items, pos


def _value(tokens: list[tuple[str, str]], pos: int, key: str) -> tuple[object, int]:
    if pos < len(tokens) and tokens[pos][0] == "string":
        return tokens[pos][1], pos + 1
    if pos < len(tokens) and tokens[pos] == ("punct", "["):
        values: list[str] = []
        pos += 1
        while pos < len(tokens) and tokens[pos] != ("punct", "]"):
            if tokens[pos][0] != "string":
                raise PolicyError(f"Failed to parse ACL Policy: {key}: expected strings")
            values.append(tokens[pos][1])
            pos += 1
            if pos < len(tokens) and tokens[pos] == ("punct", ","):
                pos += 1
        return values, pos + 1
    raise PolicyError(f"Failed to parse ACL Policy: {key}: expected a string or a list")


# -- policies ---------------------------------------------------------------------------


@dataclass
class Policy:
    """What one parsed policy grants for the parts of the API we serve."""

    agent: str = ""
    node: str = ""
    namespaces: list[tuple[str, frozenset[str]]] = field(default_factory=list)


def parse_policy(text: str) -> Policy:
    """Parse and validate like acl.Parse (strict): unknown keys and bad values are refused;
    "" is an empty policy, text without any rule is refused."""
    policy = Policy()
    if text == "":
        return policy
    seen = False
    for key, label, value in parse_hcl(text):
        if key in ("agent", "node") and label is None and isinstance(value, Block):
            level = _attrs(value, key).get("policy", "")
            if level not in _VALID_POLICIES:
                raise PolicyError(f"Invalid {key} policy: {level!r}")
            setattr(policy, key, level)
        elif key == "namespace" and label is not None and isinstance(value, Block):
            policy.namespaces.append((label, _namespace_caps(label, _attrs(value, key))))
        elif key in _OTHER_BLOCKS and isinstance(value, Block):
            pass
        else:
            raise PolicyError(f"Invalid or duplicate policy keys: {key}")
        seen = True
    if not seen:
        raise PolicyError(f"Invalid policy: {text}")
    return policy


def _attrs(block: Block, where: str) -> dict[str, object]:
    attrs: dict[str, object] = {}
    for key, label, value in block:
        if key == "variables" and where == "namespace" and isinstance(value, Block):
            continue
        if label is not None or key not in ("policy", "capabilities") or isinstance(value, Block):
            raise PolicyError(f"Invalid or duplicate policy keys: {where}.{key}")
        attrs[key] = value
    return attrs


def _namespace_caps(name: str, attrs: dict[str, object]) -> frozenset[str]:
    if not _VALID_NAMESPACE.match(name):
        raise PolicyError(f"Invalid namespace name: {name!r}")
    level = attrs.get("policy", "")
    if level and level not in _VALID_POLICIES:
        raise PolicyError(f"Invalid namespace policy: {level!r}")
    caps = attrs.get("capabilities", [])
    if not isinstance(caps, list) or not isinstance(level, str):
        raise PolicyError(f"Invalid namespace block {name!r}")
    for cap in caps:
        if cap not in _NAMESPACE_CAPS:
            raise PolicyError(f"Invalid namespace capability '{cap}'")
    expanded = {
        POLICY_DENY: ("deny",),
        POLICY_READ: _READ_CAPS,
        POLICY_WRITE: _WRITE_CAPS,
        POLICY_SCALE: _SCALE_CAPS,
    }.get(level, ())
    return frozenset(caps) | frozenset(expanded)


def _max_privilege(a: str, b: str) -> str:
    for level in (POLICY_DENY, POLICY_WRITE, POLICY_READ, POLICY_LIST):
        if level in (a, b):
            return level
    return ""


def _glob(pattern: str, name: str) -> bool:
    """ryanuber/go-glob: '*' matches any run of characters, nothing else is special."""
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), name) is not None


class ACL:
    """A compiled token (acl.NewACL over its policies)."""

    def __init__(self, policies: list[Policy], management: bool = False):
        self.management = management
        self.agent = self.node = ""
        self.namespaces: dict[str, set[str]] = {}
        self.wildcards: dict[str, set[str]] = {}
        for policy in policies:
            self.agent = _max_privilege(self.agent, policy.agent)
            self.node = _max_privilege(self.node, policy.node)
            for name, caps in policy.namespaces:
                table = self.wildcards if "*" in name else self.namespaces
                current = table.setdefault(name, set())
                if "deny" in current:
                    continue
                if "deny" in caps:
                    current.clear()
                    current.add("deny")
                else:
                    current.update(caps)

    def allow_agent_read(self) -> bool:
        return self.management or self.agent in (POLICY_READ, POLICY_WRITE)

    def allow_node_read(self) -> bool:
        return self.management or self.node in (POLICY_READ, POLICY_WRITE)

    def allow_ns_op(self, namespace: str, op: str) -> bool:
        if self.management:
            return True
        if namespace == "*" and any(
            op in caps for caps in [*self.namespaces.values(), *self.wildcards.values()]
        ):
            return True
        caps = self.namespaces.get(namespace)
        if caps is None:
            matches = [
                (len(namespace) - len(glob) + glob.count("*"), glob)
                for glob in sorted(self.wildcards)
                if _glob(glob, namespace)
            ]
            if not matches:
                return False
            caps = self.wildcards[min(matches, key=lambda m: m[0])[1]]
        return op in caps


@dataclass
class Token:
    secret: str
    accessor: str
    type: str  # "client" | "management"
    policies: tuple[str, ...]
    expired: bool = False


class TokenUnknown(Exception):
    """The secret names no token (resolveSecretToken: ErrTokenNotFound / ErrTokenInvalid)."""


class TokenExpired(Exception):
    """structs.ErrTokenExpired."""


class ACLStore:
    """The ACL tables: policies by name, tokens by secret. enabled=False: ACLs are off."""

    def __init__(self) -> None:
        self.enabled = False
        self.policies: dict[str, Policy] = {}
        self.tokens: dict[str, Token] = {}
        # Nomad before 1.5 resolved tokens without Authenticate: an unknown one was
        # 403 "ACL token not found" everywhere instead of "Permission denied".
        self.legacy_token_not_found = False

    def set_policy(self, name: str, rules: str) -> None:
        self.policies[name] = parse_policy(rules)
        self.enabled = True

    def add_token(
        self,
        policies: tuple[str, ...] | list[str] = (),
        *,
        secret: str | None = None,
        management: bool = False,
        expired: bool = False,
    ) -> str:
        """A token for these policy names; returns its secret (a UUID unless given).
        The simulator accepts any secret it was given; Nomad's are always UUIDs."""
        secret = secret or str(uuid.uuid4())
        self.tokens[secret] = Token(
            secret,
            str(uuid.uuid4()),
            "management" if management else "client",
            tuple(policies),
            expired,
        )
        self.enabled = True
        return secret

    def resolve(self, secret: str) -> ACL | None:
        """The token's ACL; None when ACLs are off. Raises TokenUnknown / TokenExpired."""
        if not self.enabled:
            return None
        if not secret:
            # The anonymous token carries the policy named "anonymous", if there is one.
            return ACL([self.policies["anonymous"]] if "anonymous" in self.policies else [])
        token = self.tokens.get(secret)
        if token is None:
            raise TokenUnknown(secret)
        if token.expired:
            raise TokenExpired(secret)
        if token.type == "management":
            return ACL([], management=True)
        return ACL([self.policies[p] for p in token.policies if p in self.policies])


# Shorthands for tests: "agent:read", "node:read", "namespace:read-job" (every namespace)
# and "namespace:<ns>:read-job", as one policy per token.
def policy_from_capabilities(capabilities: set[str] | frozenset[str]) -> str:
    lines = []
    for cap in sorted(capabilities):
        parts = cap.split(":")
        if parts in (["agent", "read"], ["node", "read"]):
            lines.append(f'{parts[0]} {{ policy = "read" }}')
        elif len(parts) in (2, 3) and parts[0] == "namespace":
            name = parts[1] if len(parts) == 3 else "*"
            lines.append(f'namespace "{name}" {{ capabilities = ["{parts[-1]}"] }}')
        else:
            raise PolicyError(f"unknown capability shorthand {cap!r}")
    return "\n".join(lines)
