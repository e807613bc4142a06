"""The Kubernetes source (k3s on Pis): pods and nodes followed with list + watch.

credentials  where the API server is, how to trust it, who we are
kubeconfig   credentials from a kubeconfig file or the pod's service account
client       a small API client: list, watch (streamed), typed errors from Status
watcher      reflectors for pods and nodes, merged into one picture
printers     the STATUS column of `kubectl get pods` (printPod)
normalise    pods and nodes → the neutral model (blinkt_agent.snapshot)
resources    what a pod requests, as `kubectl describe node` counts it
quantity     Kubernetes quantities ("250m", "128Mi")
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path

from blinkt_agent import config
from blinkt_agent.errors import ConfigError
from blinkt_agent.sources import Emit, Source
from blinkt_agent.sources.kubernetes.credentials import Credentials
from blinkt_agent.sources.kubernetes.kubeconfig import (
    SERVICE_ACCOUNT_DIR,
    SETTING,
    default_kubeconfig,
    in_cluster,
    load_kubeconfig,
)

log = logging.getLogger(__name__)


def credentials_of(
    settings: config.Settings, environ: Mapping[str, str] = os.environ
) -> Credentials:
    """kubernetes.kubeconfig (from the file, $KUBECONFIG or a flag) when set; else
    ~/.kube/config when it exists; else the service account of the pod we run in: the
    order client-go's DeferredLoadingClientConfig takes (in-cluster only when no kubeconfig
    is found, and only with the service's host and the account's token both there)."""
    path = settings["kubernetes.kubeconfig"]
    context = settings["kubernetes.context"]
    if path:
        return load_kubeconfig(path, context)
    home = default_kubeconfig({k: v for k, v in environ.items() if k != "KUBECONFIG"})
    if Path(home).is_file():
        return load_kubeconfig(home, context)
    if environ.get("KUBERNETES_SERVICE_HOST") and (SERVICE_ACCOUNT_DIR / "token").exists():
        return in_cluster(environ)
    raise ConfigError(
        f"{SETTING}: not set, not running in a pod, and no {home}: name the kubeconfig "
        "file (the Ansible role writes /etc/blinkt-agent/kubeconfig)"
    )


def node_name(settings: config.Settings) -> str:
    """`node`, else this host's name as the kubelet registers it (lower case, whole)."""
    name: str = settings["node"] or socket.gethostname().lower()
    return name


def validate(settings: config.Settings) -> None:
    """The credentials must be usable now (ConfigError), not in the thread later."""
    credentials = credentials_of(settings)
    if credentials.skip_verify:
        log.warning("the kubeconfig sets insecure-skip-tls-verify: the API server is not checked")
    credentials.tls_files().close()  # inline certificates and keys must be writable


def make_source(settings: config.Settings, emit: Emit) -> Source:
    from blinkt_agent.sources.kubernetes.client import KubeClient
    from blinkt_agent.sources.kubernetes.watcher import KubeWatcher

    cluster = settings["mode"] == "nodes"
    return KubeWatcher(
        KubeClient(credentials_of(settings)),
        emit,
        node="" if cluster else node_name(settings),
        namespace=settings["kubernetes.namespace"],
        watch_timeout=settings["kubernetes.watch_timeout"],
        backoff_max=settings["kubernetes.backoff_max"],
        with_capacity=True,  # the node is watched anyway: a switch to a bar has it at once
    )
