"""Kubernetes credentials from kubeconfig files or from the pod's service account.

Kubeconfig files are read as client-go reads them (kubernetes/kubernetes
staging/src/k8s.io/client-go/tools/clientcmd: loader.go ClientConfigLoadingRules.Load
and ResolveLocalPaths, validation.go, client_config.go):

- a colon-separated list of files (as $KUBECONFIG) is merged: the first file to name a
  cluster, user or context wins it whole; the first non-empty current-context wins;
  missing files of a list are skipped, a file named alone must exist;
- the context is the one given (kubernetes.context), else current-context;
- relative paths in a stanza (certificate-authority, client-certificate, client-key,
  tokenFile) resolve against the directory of the file the stanza came from;
- the cluster needs a server (a URL; without a scheme it gets https:// when a CA or
  insecure-skip-tls-verify is set, else http://, as client-go's DefaultServerURL);
  certificate-authority-data (base64 PEM) or certificate-authority, never both and never
  with insecure-skip-tls-verify (client-go refuses both); tls-server-name;
- the user needs a token, a tokenFile (read again as client-go does: FileToken; `token`
  then serves while the file cannot be read) and/or a client certificate and key (data
  or file). exec and auth-provider plugins, username/password, impersonation (as...)
  and a cluster's proxy-url are refused with one line: a Pi agent uses a token or a
  client certificate.

In-cluster (client-go rest.InClusterConfig): https://KUBERNETES_SERVICE_HOST:PORT, the
service account's token (re-read like a tokenFile) and ca.crt (when it holds a
certificate; else, as client-go, the system's CAs), the namespace from $POD_NAMESPACE or
the namespace file (clientcmd's inClusterClientConfig.Namespace).

Every failure is a ConfigError: one line naming the setting, the file and the field
(`users[name=pi].user.client-key-data: not base64`), never a token or key.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from blinkt_agent.errors import ConfigError
from blinkt_agent.sources.kubernetes.credentials import Credentials, FileToken, static_token

SETTING = "kubernetes.kubeconfig"
CONTEXT_SETTING = "kubernetes.context"
IN_CLUSTER_SETTING = "kubernetes (in-cluster service account)"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
MAX_KUBECONFIG_BYTES = 1 << 20

_PLUGINS = "not supported on a Pi agent: use a token or a client certificate"
_REFUSED_USER_FIELDS = {
    "exec": _PLUGINS,
    "auth-provider": _PLUGINS,
    "username": "basic auth is not supported (the API server has none since 1.19): "
    "use a token or a client certificate",
    "password": "basic auth is not supported (the API server has none since 1.19): "
    "use a token or a client certificate",
    "as": "impersonation is not supported: use the user's own token or certificate",
    "as-uid": "impersonation is not supported: use the user's own token or certificate",
    "as-groups": "impersonation is not supported: use the user's own token or certificate",
    "as-user-extra": "impersonation is not supported: use the user's own token or certificate",
}
_REFUSED_CLUSTER_FIELDS = {"proxy-url": "a proxy is not supported: the agent connects directly"}
_SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))


def default_kubeconfig(environ: Mapping[str, str] = os.environ) -> str:
    """$KUBECONFIG, else ~/.kube/config (clientcmd RecommendedHomeFile)."""
    if environ.get("KUBECONFIG"):
        return environ["KUBECONFIG"]
    return os.path.join(environ.get("HOME", ""), ".kube", "config")


def kubeconfig_paths(paths: str | Sequence[str]) -> list[str]:
    """A colon-separated list (or a sequence) as files to read: empty names dropped,
    each path once (client-go's deduplicate)."""
    names = paths.split(os.pathsep) if isinstance(paths, str) else list(paths)
    return list(dict.fromkeys(name for name in names if name))


def load_kubeconfig(
    paths: str | Sequence[str],
    context: str = "",
    setting: str = SETTING,
    context_setting: str = CONTEXT_SETTING,
    clock: Callable[[], float] = time.monotonic,
) -> Credentials:
    """Credentials from the kubeconfig file(s) `paths` and the context `context` (default:
    their current-context)."""
    files = kubeconfig_paths(paths)
    if not files:
        raise ConfigError(f"{setting}: no kubeconfig file given")
    documents: list[tuple[str, dict[Any, Any]]] = []
    for path in files:
        data = _read(path, setting, must_exist=len(files) == 1)
        if data is not None:
            documents.append((path, _parse(data, path, setting)))
    if not documents:
        raise ConfigError(f"{setting}: none of {', '.join(map(_shown, files))} exists")
    return _Loader(setting, context_setting, clock).credentials(documents, context)


def parse_kubeconfig(
    data: bytes | str,
    path: str,
    context: str = "",
    setting: str = SETTING,
    context_setting: str = CONTEXT_SETTING,
    clock: Callable[[], float] = time.monotonic,
) -> Credentials:
    """Credentials from one kubeconfig's text; `path` is where it came from (relative
    paths in it resolve against its directory)."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    document = _parse(raw, path, setting)
    return _Loader(setting, context_setting, clock).credentials([(path, document)], context)


def in_cluster(
    environ: Mapping[str, str] = os.environ,
    root: str | Path = SERVICE_ACCOUNT_DIR,
    clock: Callable[[], float] = time.monotonic,
    setting: str = IN_CLUSTER_SETTING,
) -> Credentials:
    """Credentials of the pod we run in, as rest.InClusterConfig builds them; `root` is
    the service account's directory (its token, ca.crt and namespace files)."""
    host = environ.get("KUBERNETES_SERVICE_HOST", "")
    port = environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise ConfigError(
            f"{setting}: not in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
            "are not set"
        )
    root = Path(root)
    token = FileToken(root / "token", setting, clock=clock)
    token()  # client-go reads it up front: no token, no config
    ca = root / "ca.crt"
    namespace = environ.get("POD_NAMESPACE", "") or _text(root / "namespace").strip()
    host = f"[{host}]" if ":" in host else host  # net.JoinHostPort
    return Credentials(
        server=f"https://{host}:{port}",
        ca_file=str(ca) if b"-----BEGIN CERTIFICATE-----" in _bytes(ca) else "",
        token=token,
        namespace=namespace or "default",
        source=f"the service account in {root}",
    )


def _read(path: str, setting: str, must_exist: bool) -> bytes | None:
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_KUBECONFIG_BYTES + 1)
    except FileNotFoundError:
        if must_exist:
            raise ConfigError(f"{setting}: {_shown(path)} does not exist") from None
        return None
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ConfigError(f"{setting}: cannot read {_shown(path)}: {reason}") from None
    except ValueError:  # a NUL in the path
        raise ConfigError(f"{setting}: {_shown(path)} is not a usable path") from None
    if len(data) > MAX_KUBECONFIG_BYTES:
        raise ConfigError(f"{setting}: {_shown(path)} is larger than {MAX_KUBECONFIG_BYTES} bytes")
    return data


def _parse(data: bytes, path: str, setting: str) -> dict[Any, Any]:
    import yaml  # only the Kubernetes source needs PyYAML

    try:
        document = yaml.safe_load(data)
    except yaml.MarkedYAMLError as err:
        # Built from the problem and its place only: PyYAML's own message quotes the
        # line, which may hold a token.
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = _shown(err.problem or "syntax error")
        raise ConfigError(f"{setting}: {_shown(path)}: not valid YAML: {problem}{where}") from None
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError):
        raise ConfigError(f"{setting}: {_shown(path)}: not valid YAML") from None
    if document is None:
        return {}  # an empty file is an empty config (clientcmd.Load)
    if not isinstance(document, dict):
        raise ConfigError(f"{setting}: {_shown(path)}: not a kubeconfig (not a YAML mapping)")
    return document


class _Loader:
    """Merges the documents and builds the credentials of one context."""

    def __init__(self, setting: str, context_setting: str, clock: Callable[[], float]) -> None:
        self.setting = setting
        self.context_setting = context_setting
        self.clock = clock
        # section -> name -> (file, body): the first file to name an entry wins it.
        self.entries: dict[str, dict[str, tuple[str, dict[Any, Any]]]] = {
            section: {} for section, _ in _SECTIONS
        }
        self.current_context = ""

    def fail(self, path: str, where: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.setting}: {_shown(path)}: {where}: {problem}")

    def credentials(self, documents: list[tuple[str, dict[Any, Any]]], context: str) -> Credentials:
        for path, document in documents:
            self._merge(path, document)
        files = ", ".join(_shown(path) for path, _ in documents)
        name = context or self.current_context
        if not name:
            raise ConfigError(
                f"{self.setting}: {files} has no current-context and {self.context_setting} "
                "is not set"
            )
        if name not in self.entries["contexts"]:
            told = self.context_setting if context else "current-context"
            raise ConfigError(f"{self.setting}: {files} has no context {name!r} ({told})")
        path, body = self.entries["contexts"][name]
        where = f"contexts[name={_shown(name)}].context"
        cluster_name = self._string(path, body, where, "cluster")
        user_name = self._string(path, body, where, "user")
        namespace = self._string(path, body, where, "namespace") or "default"
        if cluster_name not in self.entries["clusters"]:
            problem = f"no cluster {cluster_name!r}" if cluster_name else "missing"
            raise self.fail(path, f"{where}.cluster", problem)
        if not user_name:
            raise self.fail(
                path, f"{where}.user", "missing: a token or client certificate is needed"
            )
        if user_name not in self.entries["users"]:
            raise self.fail(path, f"{where}.user", f"no user {user_name!r}")
        cluster = self._cluster(cluster_name)
        user = self._user(user_name)
        return Credentials(
            **cluster,
            **user,
            namespace=namespace,
            source=f"kubeconfig {files} (context {name!r})",
        )

    def _merge(self, path: str, document: dict[Any, Any]) -> None:
        for section, key in _SECTIONS:
            entries = document.get(section)
            if entries is None:
                continue
            if not isinstance(entries, list):
                raise self.fail(path, section, "not a list")
            seen: set[str] = set()
            for index, entry in enumerate(entries):
                if not isinstance(entry, dict):
                    raise self.fail(path, f"{section}[{index}]", "not a mapping")
                name = entry.get("name")
                if not isinstance(name, str):
                    raise self.fail(path, f"{section}[{index}].name", "not a string")
                if name in seen:  # clientcmd's v1 conversion refuses duplicate names
                    raise self.fail(path, section, f"duplicate name {name!r}")
                seen.add(name)
                body = entry.get(key)
                if body is None:
                    body = {}
                if not isinstance(body, dict):
                    raise self.fail(path, f"{section}[name={_shown(name)}].{key}", "not a mapping")
                self.entries[section].setdefault(name, (path, body))
        current = document.get("current-context")
        if current is not None and not isinstance(current, str):
            raise self.fail(path, "current-context", "not a string")
        if current and not self.current_context:
            self.current_context = current

    def _cluster(self, name: str) -> dict[str, Any]:
        path, body = self.entries["clusters"][name]
        where = f"clusters[name={_shown(name)}].cluster"
        self._refuse(path, body, where, _REFUSED_CLUSTER_FIELDS)
        ca_data = self._pem(path, body, where, "certificate-authority-data")
        ca_file = self._file(path, body, where, "certificate-authority")
        if ca_data and ca_file:
            raise self.fail(
                path, where, "certificate-authority-data and certificate-authority are both set"
            )
        insecure = self._bool(path, body, where, "insecure-skip-tls-verify")
        if insecure and (ca_data or ca_file):
            raise self.fail(
                path,
                where,
                "insecure-skip-tls-verify with a certificate authority (client-go refuses both)",
            )
        server = self._string(path, body, where, "server")
        if not server:
            raise self.fail(path, f"{where}.server", "missing (the API server's URL)")
        try:
            url = urlsplit(server)
            if not url.scheme or not url.netloc:
                url = urlsplit(
                    ("https://" if ca_data or ca_file or insecure else "http://") + server
                )
            url.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise self.fail(path, f"{where}.server", f"not a URL: {_shown(server)}") from None
        if url.scheme not in ("https", "http") or not url.hostname:
            raise self.fail(path, f"{where}.server", f"not an http(s) URL: {_shown(server)}")
        return {
            "server": url.geturl(),
            "ca_file": ca_file,
            "ca_data": ca_data,
            "skip_verify": insecure,
            "server_name": self._string(path, body, where, "tls-server-name"),
        }

    def _user(self, name: str) -> dict[str, Any]:
        path, body = self.entries["users"][name]
        where = f"users[name={_shown(name)}].user"
        self._refuse(path, body, where, _REFUSED_USER_FIELDS)
        cert_data = self._pem(path, body, where, "client-certificate-data")
        key_data = self._pem(path, body, where, "client-key-data")
        cert_file = self._file(path, body, where, "client-certificate")
        key_file = self._file(path, body, where, "client-key")
        for data, file, field in (
            (cert_data, cert_file, "client-certificate"),
            (key_data, key_file, "client-key"),
        ):
            if data and file:
                raise self.fail(path, where, f"{field}-data and {field} are both set")
        has_cert, has_key = bool(cert_data or cert_file), bool(key_data or key_file)
        if has_cert != has_key:
            missing = "client-key" if has_cert else "client-certificate"
            raise self.fail(path, where, f"{missing} (or {missing}-data) is missing")
        token = self._string(path, body, where, "token")
        if token and not token.isprintable():
            raise self.fail(path, f"{where}.token", "has a control character")
        token_file = self._path(path, body, where, "tokenFile")
        supply: Callable[[], str] | None = static_token(token) if token else None
        if token_file:
            label = f"{self.setting}: {_shown(path)}: {where}.tokenFile"
            supply = FileToken(token_file, label, fallback=token, clock=self.clock)
            supply()  # read now, as client_config.go does: a missing file fails here
        if not supply and not has_cert:
            raise self.fail(
                path, where, "no token, tokenFile or client certificate to authenticate with"
            )
        return {
            "token": supply,
            "client_cert_file": cert_file,
            "client_key_file": key_file,
            "client_cert_data": cert_data,
            "client_key_data": key_data,
        }

    def _refuse(self, path: str, body: dict[Any, Any], where: str, fields: dict[str, str]) -> None:
        for field, why in fields.items():
            if body.get(field):
                raise self.fail(path, f"{where}.{field}", why)

    def _string(self, path: str, body: dict[Any, Any], where: str, field: str) -> str:
        value = body.get(field)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.fail(path, f"{where}.{field}", "not a string")
        return value

    def _bool(self, path: str, body: dict[Any, Any], where: str, field: str) -> bool:
        value = body.get(field)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.fail(path, f"{where}.{field}", "not true or false")
        return value

    def _pem(self, path: str, body: dict[Any, Any], where: str, field: str) -> bytes:
        """A *-data field: base64 (line breaks allowed) of PEM text."""
        value = self._string(path, body, where, field)
        if not value:
            return b""
        try:
            data = base64.b64decode("".join(value.split()), validate=True)
        except ValueError:
            raise self.fail(path, f"{where}.{field}", "not base64") from None
        if b"-----BEGIN " not in data:
            raise self.fail(path, f"{where}.{field}", "not PEM (base64 of a PEM file is expected)")
        return data

    def _path(self, path: str, body: dict[Any, Any], where: str, field: str) -> str:
        """A file reference, made absolute against the directory of `path`."""
        value = self._string(path, body, where, field)
        if not value or os.path.isabs(value):
            return value
        return os.path.join(os.path.dirname(os.path.abspath(path)), value)

    def _file(self, path: str, body: dict[Any, Any], where: str, field: str) -> str:
        """A file reference that must be readable now (client-go's validation opens it)."""
        file = self._path(path, body, where, field)
        if file:
            try:
                with open(file, "rb"):
                    pass
            except OSError as err:
                reason = err.strerror or type(err).__name__
                raise self.fail(
                    path, f"{where}.{field}", f"cannot read {_shown(file)}: {reason}"
                ) from None
            except ValueError:
                raise self.fail(
                    path, f"{where}.{field}", f"not a usable path: {_shown(file)}"
                ) from None
        return file


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except (OSError, ValueError):
        return b""


def _text(path: Path) -> str:
    return _bytes(path).decode("utf-8", "replace")


def _shown(text: object) -> str:
    text = str(text)
    return text if text.isprintable() else repr(text)
