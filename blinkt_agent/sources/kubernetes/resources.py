"""What a pod holds of its node, as `kubectl describe node` adds it up under "Allocated
resources".

kubernetes/kubernetes staging/src/k8s.io/kubectl/pkg/describe/describe.go
getPodsTotalRequestsAndLimits sums, over the node's non-terminated pods (listed with
fieldSelector status.phase!=Succeeded,status.phase!=Failed), the requests that
staging/src/k8s.io/component-helpers/resource/helpers.go PodRequests gives with
PodResourcesOptions{SkipPodLevelResources: false}:

- AggregateContainerRequests (UseStatusResources false: the totals read the spec only,
  not the in-place-resize status; describe's per-pod rows use it, its totals do not):
  the containers' requests summed, sidecars (restartable init containers) added too,
  and then per resource the max of that sum and of every init container's peak, where
  an init container's peak is its own request plus the sidecars started before it;
- pod-level requests (spec.resources.requests, PodLevelResources) replace the container
  aggregate for the resources they name that pod-level resources support (cpu, memory,
  hugepages-*);
- spec.overhead (RuntimeClass pod overhead) is added.
Requests the DRA options add are off in describe, and so here.

A quantity that does not parse counts as absent (the API server never sends one). Sums
keep 60 significant digits: exact for anything an int64 of nano units can hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal

from blinkt_agent.outside import as_list, dig
from blinkt_agent.sources.kubernetes.printers import is_restartable_init_container
from blinkt_agent.sources.kubernetes.quantity import quantity_of

Amounts = dict[str, Decimal]

TERMINATED_PHASES = ("Succeeded", "Failed")  # describe's field selector leaves these out
_SUM = Context(prec=60, Emax=MAX_EMAX, Emin=MIN_EMIN)


def pod_requests(pod: object) -> Amounts:
    """PodRequests(pod, {SkipPodLevelResources: false}): every resource, exact."""
    result = _container_aggregate(pod)
    pod_level = _amounts(dig(pod, "spec", "resources", "requests"))
    if any(_pod_level_supported(name) for name in pod_level):  # IsPodLevelRequestsSet
        for name, amount in pod_level.items():
            if _pod_level_supported(name):
                result[name] = amount
    _add(result, _amounts(dig(pod, "spec", "overhead")))
    return result


def holds_of(pod: object) -> dict[str, float]:
    """What the pod holds in the snapshot's terms: cpu in cores, memory in bytes, the
    units of the node's allocatable; empty for a pod that has terminated (phase
    Succeeded or Failed), which `describe node` does not count."""
    if dig(pod, "status", "phase") in TERMINATED_PHASES:
        return {}
    requests = pod_requests(pod)
    return {name: float(requests.get(name, 0)) for name in ("cpu", "memory")}


def _container_aggregate(pod: object) -> Amounts:
    """aggregateContainerResourcesByFn with containerSpecRequests."""
    result: Amounts = {}
    for container in as_list(dig(pod, "spec", "containers")):
        _add(result, _requests(container))
    sidecars: Amounts = {}
    init_peak: Amounts = {}
    for container in as_list(dig(pod, "spec", "initContainers")):
        requests = _requests(container)
        if is_restartable_init_container(container):
            _add(result, requests)
            _add(sidecars, requests)
            peak = sidecars
        else:
            peak = dict(requests)
            _add(peak, sidecars)
        _max(init_peak, peak)
    _max(result, init_peak)
    return result


def _requests(container: object) -> Amounts:
    return _amounts(dig(container, "resources", "requests"))


def _amounts(resource_list: object) -> Amounts:
    """A ResourceList (name -> quantity) with the entries that parse."""
    if not isinstance(resource_list, Mapping):
        return {}
    amounts: Amounts = {}
    for name, value in resource_list.items():
        amount = quantity_of(value)
        if isinstance(name, str) and amount is not None:
            amounts[name] = amount
    return amounts


def _add(total: Amounts, more: Amounts) -> None:
    for name, amount in more.items():
        total[name] = _SUM.add(total.get(name, Decimal(0)), amount)


def _max(peak: Amounts, other: Amounts) -> None:
    for name, amount in other.items():
        if name not in peak or amount > peak[name]:
            peak[name] = amount


def _pod_level_supported(name: str) -> bool:
    """IsSupportedPodLevelResource: cpu, memory and hugepages-*."""
    return name in ("cpu", "memory") or name.startswith("hugepages-")
