"""Find the Nomad HTTP API through Consul DNS (SRV), with a static fallback.

Consul answers `http.nomad-client.service.consul SRV` with one record per
healthy instance; targets are `<node>.node.<dc>.<domain>.` or
`<hex-ip>.addr.<dc>.<domain>.`, and their A records normally ride along in
the ADDITIONAL section. We prefer the instance on our own node (the Nomad
client this Pi runs), then follow RFC 2782 priority and weight.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from blinkt_agent.errors import EXIT_UNAVAILABLE, AgentError

log = logging.getLogger(__name__)


class DiscoveryError(AgentError, LookupError):
    """Consul DNS gave no usable Nomad instance (the message says why)."""

    exit_code = EXIT_UNAVAILABLE


@dataclass(frozen=True)
class Endpoint:
    url: str  # "http://192.168.1.21:4646"
    node: str | None  # Consul node name when the target is <node>.node.<dc>.<domain>.
    priority: int = 0
    weight: int = 0

    @property
    def hostport(self) -> str:
        return self.url.split("://", 1)[-1]


@dataclass(frozen=True)
class SrvQuery:
    dns_host: str
    dns_port: int
    service: str = "nomad-client"
    tag: str = "http"
    domain: str = "consul"
    datacenter: str = ""
    scheme: str = "http"
    timeout: float = 2.0

    @property
    def qname(self) -> str:
        parts = [self.tag] if self.tag else []
        parts += [self.service, "service"]
        parts += [self.datacenter] if self.datacenter else []
        return ".".join([*parts, self.domain.strip(".")]) + "."

    @property
    def server(self) -> str:
        return f"{self.dns_host}:{self.dns_port}"


def _ask(query: SrvQuery, qname: str, rdtype: str) -> dns.message.Message:
    request = dns.message.make_query(qname, rdtype)
    try:
        # A truncated answer still holds usable SRV records; missing A records are asked for.
        response = dns.query.udp(
            request, query.dns_host, port=query.dns_port, timeout=query.timeout
        )
    except dns.exception.Timeout:
        raise DiscoveryError(
            f"Consul DNS {query.server}: no answer within {query.timeout:g} s"
        ) from None
    except OSError as err:
        raise DiscoveryError(f"Consul DNS {query.server}: {err.strerror or err}") from None
    except dns.exception.DNSException as err:
        raise DiscoveryError(f"Consul DNS {query.server}: bad answer ({err})") from None
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        raise DiscoveryError(f"Consul DNS: {qname} does not exist (NXDOMAIN: no healthy instance)")
    if rcode != dns.rcode.NOERROR:
        raise DiscoveryError(f"Consul DNS {query.server}: {dns.rcode.to_text(rcode)} for {qname}")
    return response


def _addresses(response: dns.message.Message) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for rrset in response.answer + response.additional:
        if rrset.rdtype == dns.rdatatype.A:
            found.setdefault(rrset.name.to_text().lower(), []).extend(r.address for r in rrset)
    return found


def node_of(target: str, domain: str) -> str | None:
    """'pi-01.node.dc1.consul.' → 'pi-01'; addr targets carry no node name."""
    labels = target.rstrip(".").split(".")
    if len(labels) >= 3 and labels[1] == "node":
        return labels[0]
    return None


def lookup(query: SrvQuery) -> list[Endpoint]:
    """All instances of the service, in SRV answer order (ordering comes later)."""
    response = _ask(query, query.qname, "SRV")
    records = [r for rrset in response.answer if rrset.rdtype == dns.rdatatype.SRV for r in rrset]
    if not records:
        raise DiscoveryError(f"Consul DNS: no SRV records for {query.qname}")
    addresses = _addresses(response)
    endpoints = []
    for record in records:
        target = record.target.to_text().lower()
        ips = addresses.get(target)
        if not ips:  # Consul omits ADDITIONAL when the answer would not fit: ask for A.
            try:
                ips = _addresses(_ask(query, target, "A")).get(target)
            except DiscoveryError as err:
                log.debug("cannot resolve SRV target %s: %s", target, err)
        if not ips:
            continue
        host = ips[0]
        endpoints.append(
            Endpoint(
                url=f"{query.scheme}://{host}:{record.port}",
                node=node_of(target, query.domain),
                priority=record.priority,
                weight=record.weight,
            )
        )
    if not endpoints:
        raise DiscoveryError(f"Consul DNS: no address for any target of {query.qname}")
    return endpoints


def order(endpoints: list[Endpoint], own_node: str, rng: random.Random) -> list[Endpoint]:
    """Own node first, then by priority; RFC 2782 weighted shuffle within a priority."""
    own = [e for e in endpoints if e.node and e.node.lower() == own_node.lower()]
    rest = [e for e in endpoints if e not in own]
    ordered = list(own)
    for priority in sorted({e.priority for e in rest}):
        pool = [e for e in rest if e.priority == priority]
        while pool:
            total = sum(e.weight for e in pool)
            if total == 0:
                pick = rng.choice(pool)
            else:
                point = rng.uniform(0, total)
                running = 0
                pick = pool[-1]
                for endpoint in pool:
                    running += endpoint.weight
                    if point <= running:
                        pick = endpoint
                        break
            ordered.append(pick)
            pool.remove(pick)
    return ordered


class NomadLocator:
    """Which Nomad address to talk to next: discovered, static or fallback.

    `address()` returns the current choice; `failed()` moves on to the next
    instance and returns False once the list is used up, after which the
    next `address()` resolves again (the caller backs off in between, so a
    Consul TTL of 0 never turns into a DNS storm).
    """

    def __init__(
        self,
        query: SrvQuery | None,
        static: str | None,
        own_node: str,
        rng: random.Random | None = None,
        resolve: Callable[[SrvQuery], list[Endpoint]] = lookup,
    ) -> None:
        if query is None and static is None:
            raise ValueError("need a Consul DNS query or a static address")
        self._query = query
        self._static = static
        self._own_node = own_node
        self._rng = rng or random.Random()
        self._resolve = resolve
        self._candidates: list[Endpoint] = []
        self.via = "static" if query is None else "consul"

    def address(self) -> str:
        if self._query is None:
            return self._static  # type: ignore[return-value]
        if not self._candidates:
            try:
                self._candidates = order(self._resolve(self._query), self._own_node, self._rng)
                self.via = "consul"
            except DiscoveryError as err:
                if self._static is None:
                    raise
                log.warning("%s; using the static nomad.address fallback", err)
                self.via = "static fallback"
                return self._static
            log.debug("discovered Nomad: %s", ", ".join(e.hostport for e in self._candidates))
        return self._candidates[0].url

    def current_node(self) -> str | None:
        """Consul node of the instance in use; None for a static address."""
        if self.via == "consul" and self._candidates:
            return self._candidates[0].node
        return None

    def failed(self) -> bool:
        """The current address did not answer: move on. True if another is left."""
        if self._candidates:
            self._candidates.pop(0)
        return bool(self._candidates)
