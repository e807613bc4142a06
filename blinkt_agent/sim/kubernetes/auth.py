"""Who is asking (authentication) and may they (authorization: system:masters, RBAC).

Authentication (staging/src/k8s.io/apiserver/pkg/authentication/, as kube-apiserver
chains it in pkg/kubeapiserver/authenticator/config.go):
- x509 (request/x509/x509.go): a client certificate verified against the client CA is
  the user CN with groups O.
- bearer tokens (request/bearertoken/bearertoken.go): `Authorization: Bearer T`. A token
  nobody knows is an error ("invalid bearer token"), and an error is never anonymous
  (union.NewFailOnError): 401. Another scheme (Basic) is no credential at all.
- service-account tokens: user `system:serviceaccount:NS:NAME`, groups
  system:serviceaccounts and system:serviceaccounts:NS; the account must still exist
  (pkg/serviceaccount/lookup.go).
- every authenticated user also gets system:authenticated (group.AuthenticatedGroupAdder).
- no credentials: system:anonymous (group system:unauthenticated) when anonymous auth is
  on; k3s runs kube-apiserver with --anonymous-auth=false, so by default it is a 401
  `Unauthorized` (filters/authentication.go Unauthorized, errors.NewUnauthorized).

Authorization, as k3s runs it (--authorization-mode=Node,RBAC behind the privileged-group
authorizer): members of system:masters may do anything (authorizerfactory
NewPrivilegedGroups); else RBAC (plugin/pkg/auth/authorizer/rbac/rbac.go):
ClusterRoleBindings, then RoleBindings of the request's namespace, each naming a Role (of
that namespace) or ClusterRole; a rule allows a request when its verbs, apiGroups,
resources (or `*/subresource`) and resourceNames match, `*` matching anything
(pkg/apis/rbac/v1/evaluation_helpers.go). A binding to a missing role adds
`RBAC: clusterrole.rbac.authorization.k8s.io "x" not found` to the denial. Two default
ClusterRoles are bound as in a fresh cluster (bootstrappolicy/policy.go):
system:public-info-viewer (/healthz, /livez, /readyz, /version) and system:discovery.
The 403 message is forbiddenMessage (endpoints/handlers/responsewriters/errors.go).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
MASTERS = "system:masters"
RBAC_GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()


ANONYMOUS = User("system:anonymous", (UNAUTHENTICATED,))


def service_account_user(namespace: str, name: str) -> User:
    """serviceaccount.UserInfo: the name and groups of a service account's tokens."""
    return User(
        f"system:serviceaccount:{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
    )


class Unauthenticated(Exception):
    """Credentials that were given but do not authenticate: 401."""


@dataclass(frozen=True)
class Attributes:
    """authorizer.Attributes of a request (endpoints/request/requestinfo.go)."""

    user: User
    verb: str
    resource: str = ""
    name: str = ""
    namespace: str = ""
    subresource: str = ""
    api_group: str = ""
    path: str = ""

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)


@dataclass(frozen=True)
class Rule:
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Rule:
        def strings(key: str) -> tuple[str, ...]:
            return tuple(str(v) for v in doc.get(key) or ())

        return cls(
            strings("verbs"),
            strings("apiGroups"),
            strings("resources"),
            strings("resourceNames"),
            strings("nonResourceURLs"),
        )

    def allows(self, a: Attributes) -> bool:
        """rbac.go RuleAllows with the evaluation helpers."""
        if not ("*" in self.verbs or a.verb in self.verbs):
            return False
        if not a.is_resource:
            return any(
                url == "*" or url == a.path or (url.endswith("*") and a.path.startswith(url[:-1]))
                for url in self.non_resource_urls
            )
        if not ("*" in self.api_groups or a.api_group in self.api_groups):
            return False
        combined = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        if not any(
            r in ("*", combined) or (a.subresource and r == f"*/{a.subresource}")
            for r in self.resources
        ):
            return False
        return not self.resource_names or a.name in self.resource_names


@dataclass(frozen=True)
class Binding:
    namespace: str  # "" for a ClusterRoleBinding
    role_kind: str  # Role or ClusterRole
    role: str
    subjects: tuple[dict[str, str], ...]

    def applies_to(self, user: User) -> bool:
        """validation/rule.go appliesToUser."""
        for s in self.subjects:
            kind, name = s.get("kind"), s.get("name", "")
            if kind == "User" and user.name == name:
                return True
            if kind == "Group" and name in user.groups:
                return True
            if kind == "ServiceAccount":
                namespace = s.get("namespace") or self.namespace
                if namespace and user.name == f"system:serviceaccount:{namespace}:{name}":
                    return True
        return False


@dataclass
class RBAC:
    """Roles, bindings and service accounts, loaded from manifests."""

    roles: dict[tuple[str, str], list[Rule]] = field(default_factory=dict)
    cluster_roles: dict[str, list[Rule]] = field(default_factory=dict)
    bindings: list[Binding] = field(default_factory=list)
    service_accounts: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        # bootstrappolicy/policy.go ClusterRoles and their default bindings.
        public = ("/healthz", "/livez", "/readyz", "/version", "/version/")
        self.cluster_roles["system:public-info-viewer"] = [Rule(("get",), non_resource_urls=public)]
        discovery = ("/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", "/version")
        self.cluster_roles["system:discovery"] = [Rule(("get",), non_resource_urls=discovery)]
        both = (
            {"kind": "Group", "name": AUTHENTICATED},
            {"kind": "Group", "name": UNAUTHENTICATED},
        )
        self.bindings.append(Binding("", "ClusterRole", "system:public-info-viewer", both))
        self.bindings.append(Binding("", "ClusterRole", "system:discovery", both[:1]))

    def load(self, manifest: str) -> list[str]:
        """Add every Role, ClusterRole, (Cluster)RoleBinding and ServiceAccount in a YAML
        stream (other kinds are skipped); returns `Kind/name` of what it took."""
        taken = []
        for doc in yaml.safe_load_all(manifest):
            if not isinstance(doc, dict):
                continue
            kind, meta = doc.get("kind"), doc.get("metadata") or {}
            name, namespace = str(meta.get("name", "")), str(meta.get("namespace") or "default")
            if kind == "ServiceAccount":
                self.service_accounts.add((namespace, name))
            elif kind == "ClusterRole":
                self.cluster_roles[name] = [Rule.of(r) for r in doc.get("rules") or ()]
            elif kind == "Role":
                self.roles[(namespace, name)] = [Rule.of(r) for r in doc.get("rules") or ()]
            elif kind in ("RoleBinding", "ClusterRoleBinding"):
                ref = doc.get("roleRef") or {}
                subjects = tuple(
                    {k: str(v) for k, v in s.items()} for s in doc.get("subjects") or ()
                )
                scope = namespace if kind == "RoleBinding" else ""
                self.bindings.append(
                    Binding(scope, str(ref.get("kind", "")), str(ref.get("name", "")), subjects)
                )
            else:
                continue
            taken.append(f"{kind}/{name}")
        return taken

    def _rules(self, binding: Binding) -> list[Rule]:
        """GetRoleReferenceRules; a missing role is the error the lister returns."""
        if binding.role_kind == "ClusterRole":
            if binding.role not in self.cluster_roles:
                raise LookupError(
                    f'clusterrole.rbac.authorization.k8s.io "{binding.role}" not found'
                )
            return self.cluster_roles[binding.role]
        if binding.role_kind == "Role":
            key = (binding.namespace, binding.role)
            if key not in self.roles:
                raise LookupError(f'role.rbac.authorization.k8s.io "{binding.role}" not found')
            return self.roles[key]
        raise LookupError(f'unsupported role reference kind: "{binding.role_kind}"')

    def authorize(self, a: Attributes) -> tuple[bool, str]:
        """(allowed, reason of a denial): cluster bindings first, then the namespace's."""
        errors: list[str] = []
        scopes = [""] + ([a.namespace] if a.namespace else [])
        for scope in scopes:
            for binding in self.bindings:
                if binding.namespace != scope or not binding.applies_to(a.user):
                    continue
                try:
                    rules = self._rules(binding)
                except LookupError as err:
                    errors.append(str(err))
                    continue
                if any(rule.allows(a) for rule in rules):
                    return True, ""
        unique = list(dict.fromkeys(errors))  # utilerrors.NewAggregate drops repeats
        if not unique:
            return False, ""
        joined = unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"
        return False, f"RBAC: {joined}"


@dataclass
class Authenticator:
    """Static tokens, service-account tokens and client certificates."""

    rbac: RBAC
    anonymous: bool = False
    tokens: dict[str, User] = field(default_factory=dict)
    sa_tokens: dict[str, tuple[str, str]] = field(default_factory=dict)

    def authenticate(self, cert: User | None, authorization: str) -> User:
        """The request's user; raises Unauthenticated for a 401."""
        if cert is not None:
            return _authenticated(cert)
        header = authorization.strip()
        parts = header.split(" ", 2)
        if header and len(parts) >= 2 and parts[0].lower() == "bearer" and parts[1]:
            token = parts[1]
            if token in self.tokens:
                return _authenticated(self.tokens[token])
            if token in self.sa_tokens and self.sa_tokens[token] in self.rbac.service_accounts:
                return service_account_user(*self.sa_tokens[token])
            raise Unauthenticated("invalid bearer token")
        if self.anonymous:
            return ANONYMOUS
        raise Unauthenticated("no credentials")


def _authenticated(user: User) -> User:
    groups = user.groups if AUTHENTICATED in user.groups else (*user.groups, AUTHENTICATED)
    return User(user.name, groups)


def cert_user(subject: Iterable[Iterable[tuple[str, str]]]) -> User | None:
    """x509.CommonNameUserConversion: CN is the user, each O a group."""
    name, groups = "", []
    for rdn in subject:
        for key, value in rdn:
            if key == "commonName":
                name = value
            elif key == "organizationName":
                groups.append(value)
    return User(name, tuple(groups)) if name else None


def forbidden_message(a: Attributes) -> str:
    """responsewriters.forbiddenMessage."""
    if not a.is_resource:
        return f'User "{a.user.name}" cannot {a.verb} path "{a.path}"'
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    return (
        f'User "{a.user.name}" cannot {a.verb} resource "{resource}" '
        f'in API group "{a.api_group}" {where}'
    )


def authorize(rbac: RBAC, a: Attributes, mode: str) -> tuple[bool, str]:
    """The union kube-apiserver builds: privileged groups, then RBAC (or AlwaysAllow)."""
    if MASTERS in a.user.groups or mode == "AlwaysAllow":
        return True, ""
    return rbac.authorize(a)
