"""Find the Nomad HTTP API through Consul DNS (SRV), with a static fallback.

What real Consul answers for `http.nomad-client.service[.<dc>].<domain> SRV`
(hashicorp/consul agent/dns.go; docs/CONFORMANCE.md has the details):

- Nomad registers `nomad-client` with an explicit service address, so since Consul 1.7
  every target is `<hex-ip>.addr.<dc>.<domain>.`; `<node>.node.<dc>.<domain>.` only for
  services registered without an address; and on Consul 1.19.0 every target is
  `<service>.service.<dc>.<domain>.` (hashicorp/consul#21325). A target's name says
  nothing reliable about whose instance it is.
- Over UDP without EDNS0 at most 3 of N instances come back, shuffled, without the TC
  bit; with EDNS0 as many as fit the advertised size, again without TC. TCP gets all.

So every question goes over TCP (UDP with a large EDNS0 size only when TCP is refused),
and this host's own instance is recognised by address: `<node_name>.node[.<dc>].<domain>`
A/AAAA from the same server, matched against every target's address. An instance we
cannot place is `Owner.UNKNOWN`, never taken for our own.
"""

from __future__ import annotations

import enum
import ipaddress
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
from dns.rdtypes.IN.SRV import SRV

from blinkt_agent import hostnames
from blinkt_agent.errors import SourceError

log = logging.getLogger(__name__)
IP = ipaddress.IPv4Address | ipaddress.IPv6Address

# UDP is only the fallback for a server that refuses TCP: ask for as much as Consul will
# send (agent/dns.go maxUDPDatagramSize), since it trims to the size without setting TC.
UDP_PAYLOAD = 65535 - 68


class DiscoveryError(SourceError, LookupError):
    """Consul DNS gave no usable Nomad instance (the message says why): Nomad unreachable."""

    kind = "unreachable"


class Owner(enum.Enum):
    """Whose Nomad client an instance is, as far as Consul DNS can tell."""

    OWN = "own"  # at this host's Consul node address, or a .node. target naming this host
    OTHER = "other"  # at another address, or a .node. target naming another node
    UNKNOWN = "unknown"  # this host's address is not known to Consul DNS (see node_name)


@dataclass(frozen=True)
class Endpoint:
    url: str  # "http://192.168.1.21:4646", "http://[fd00::21]:4646"
    owner: Owner = Owner.UNKNOWN
    node: str | None = None  # Consul node name when known (.node. target, or our own)
    priority: int = 1
    weight: int = 1
    target: str = ""  # the SRV target as Consul wrote it

    @property
    def is_own(self) -> bool:
        return self.owner is Owner.OWN

    @property
    def hostport(self) -> str:
        return self.url.split("://", 1)[-1]


@dataclass(frozen=True)
class SrvQuery:
    dns_host: str  # an IP address or a host name (resolved by the system resolver)
    dns_port: int
    service: str = "nomad-client"
    tag: str = "http"
    domain: str = "consul"
    datacenter: str = ""
    scheme: str = "http"
    timeout: float = 2.0  # per DNS question
    lifetime: float = 8.0  # per discovery round (the SRV question and the follow-ups)

    @property
    def qname(self) -> str:
        parts = [self.tag] if self.tag else []
        parts += [self.service, "service"]
        return self._name(parts)

    def node_qname(self, node: str) -> str:
        return self._name([node, "node"])

    def _name(self, parts: list[str]) -> str:
        parts = parts + ([self.datacenter] if self.datacenter else [])
        return ".".join([*parts, self.domain.strip(".")]) + "."

    @property
    def server(self) -> str:
        host = f"[{self.dns_host}]" if ":" in self.dns_host else self.dns_host
        return f"{host}:{self.dns_port}"


class _Conversation:
    """One discovery round with one Consul DNS server: TCP, else UDP with a large EDNS0
    size (TC then means the answer is incomplete and cannot be had)."""

    def __init__(
        self, query: SrvQuery, resolve_host: hostnames.Resolve, clock: Callable[[], float]
    ) -> None:
        self.query = query
        self._clock = clock
        self._deadline = clock() + query.lifetime
        self._udp = False
        try:
            self._addresses = resolve_host(query.dns_host)
        except hostnames.NameUnknown as err:
            raise DiscoveryError(
                f"Consul DNS {query.server}: host {query.dns_host!r} does not exist ({err})"
            ) from None
        except hostnames.NameNotYet as err:
            raise DiscoveryError(
                f"Consul DNS {query.server}: cannot resolve {query.dns_host!r} yet ({err})"
            ) from None
        if not self._addresses:
            raise DiscoveryError(f"Consul DNS {query.server}: {query.dns_host!r} has no address")

    def ask(self, qname: str, rdtype: str) -> dns.message.Message:
        server = self.query.server
        timeout = min(self.query.timeout, self._deadline - self._clock())
        if timeout <= 0:
            raise DiscoveryError(
                f"Consul DNS {server}: no complete answer within {self.query.lifetime:g} s"
            )
        try:
            if not self._udp:
                response = self._ask_tcp(qname, rdtype, timeout)
                if response is not None:
                    return response  # TCP answers are whole: TC means nothing here
                log.info("Consul DNS %s refuses TCP: asking over UDP with EDNS0", server)
                self._udp = True
            request = dns.message.make_query(qname, rdtype, use_edns=0, payload=UDP_PAYLOAD)
            response = dns.query.udp(
                request,
                self._addresses[0],
                timeout=timeout,
                port=self.query.dns_port,
                one_rr_per_rrset=True,
            )
        except dns.exception.Timeout:
            raise DiscoveryError(f"Consul DNS {server}: no answer within {timeout:g} s") from None
        except EOFError:
            raise DiscoveryError(f"Consul DNS {server}: connection closed mid-answer") from None
        except OSError as err:
            raise DiscoveryError(f"Consul DNS {server}: {err.strerror or err}") from None
        except dns.exception.DNSException as err:
            raise DiscoveryError(f"Consul DNS {server}: bad answer ({err})") from None
        if response.flags & dns.flags.TC:
            raise DiscoveryError(
                f"Consul DNS {server}: truncated answer for {qname} over UDP, and TCP is refused"
            )
        return response

    def _ask_tcp(self, qname: str, rdtype: str, timeout: float) -> dns.message.Message | None:
        """The answer over TCP from the first address that takes the connection (for
        "localhost" ::1 may come first while Consul listens on 127.0.0.1 only); None if
        every address refuses it."""
        request = dns.message.make_query(qname, rdtype)
        errors: list[OSError] = []
        for address in self._addresses:
            try:
                return dns.query.tcp(
                    request,
                    address,
                    timeout=timeout,
                    port=self.query.dns_port,
                    one_rr_per_rrset=True,  # keep equal records (Consul 1.19.0) apart, in order
                )
            except OSError as err:  # refused, or no route to this address: try the next
                errors.append(err)
        if all(isinstance(err, ConnectionRefusedError) for err in errors):
            return None
        raise next(err for err in errors if not isinstance(err, ConnectionRefusedError))


def lookup(
    query: SrvQuery,
    own_node: str = "",
    resolve_host: hostnames.Resolve | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[Endpoint]:
    """Every instance of the service, in SRV answer order (ordering comes later).

    own_node: this host's Consul node name; resolve_host: the system resolver (for the
    DNS server's name and targets outside the Consul domain), hostnames.resolve by default.
    """
    resolve_host = resolve_host or hostnames.resolve
    talk = _Conversation(query, resolve_host, clock)
    response = talk.ask(query.qname, "SRV")
    _raise_for_rcode(query, response)
    records = [rd for rrset in response.answer for rd in rrset if isinstance(rd, SRV)]
    if not records:
        raise DiscoveryError(f"Consul DNS {query.server}: no SRV records for {query.qname}")
    known = _addresses(response)
    own_ips = _own_addresses(talk, query, own_node)
    by_target: dict[dns.name.Name, list[SRV]] = {}
    for record in records:
        by_target.setdefault(record.target, []).append(record)
    endpoints: dict[str, Endpoint] = {}
    for target, same in by_target.items():
        ips = _target_addresses(target, known, talk, query, resolve_host)
        if not ips:
            log.debug("no address for SRV target %s", target)
            continue
        for record, ip in _pair(same, ips):
            endpoint = _endpoint(query, record, ip, target, own_node, own_ips)
            endpoints.setdefault(endpoint.url, endpoint)
    if not endpoints:
        raise DiscoveryError(
            f"Consul DNS {query.server}: no address for any target of {query.qname}"
        )
    return list(endpoints.values())


def _raise_for_rcode(query: SrvQuery, response: dns.message.Message) -> None:
    rcode, qname = response.rcode(), query.qname
    if rcode == dns.rcode.NOERROR:
        return
    where = f'datacenter "{query.datacenter}"' if query.datacenter else "Consul's own datacenter"
    tagged = f' tagged "{query.tag}"' if query.tag else ""
    if rcode == dns.rcode.NXDOMAIN:
        soa = next((r.name for r in response.authority if r.rdtype == dns.rdatatype.SOA), None)
        if soa is not None and soa != dns.name.from_text(query.domain):
            raise DiscoveryError(
                f"Consul DNS {query.server}: {qname} does not exist (NXDOMAIN from zone {soa}, "
                f'not Consul\'s "{query.domain}"): check consul.domain and consul.dns'
            )
        raise DiscoveryError(
            f"Consul DNS {query.server}: {qname} does not exist (NXDOMAIN): no healthy "
            f"{query.service} instance{tagged} in {where}, or a wrong consul.datacenter "
            f"or consul.domain"
        )
    if rcode == dns.rcode.REFUSED:
        raise DiscoveryError(
            f"Consul DNS {query.server}: REFUSED {qname}: the server does not serve the domain "
            f'"{query.domain}" (check consul.domain and consul.dns)'
        )
    raise DiscoveryError(f"Consul DNS {query.server}: {dns.rcode.to_text(rcode)} for {qname}")


def _addresses(response: dns.message.Message) -> dict[dns.name.Name, list[str]]:
    """Name → its A/AAAA addresses in the response, in order, CNAMEs followed."""
    found: dict[dns.name.Name, list[str]] = {}
    aliases: dict[dns.name.Name, dns.name.Name] = {}
    for rrset in response.answer + response.additional:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            bucket = found.setdefault(rrset.name, [])
            bucket += [r.address for r in rrset if r.address not in bucket]
        elif rrset.rdtype == dns.rdatatype.CNAME:
            aliases[rrset.name] = next(iter(rrset)).target
    for name in list(aliases):
        alias, hops = name, 0
        while alias in aliases and hops < 8:
            alias, hops = aliases[alias], hops + 1
        if alias in found and name not in found:
            found[name] = found[alias]
    return found


def _own_addresses(talk: _Conversation, query: SrvQuery, own_node: str) -> set[IP] | None:
    """This host's addresses as Consul knows them (its node's A/AAAA); None if unknown."""
    if not own_node:
        return None
    qname = query.node_qname(own_node)
    ips: set[IP] = set()
    for rdtype in ("A", "AAAA"):
        try:
            response = talk.ask(qname, rdtype)
        except DiscoveryError as err:
            log.debug("cannot learn this host's address from %s: %s", qname, err)
            return None
        if response.rcode() != dns.rcode.NOERROR:
            log.debug("%s: %s", qname, dns.rcode.to_text(response.rcode()))
            return None
        ips |= {_ip(a) for addresses in _addresses(response).values() for a in addresses}
    return ips or None


def _target_addresses(
    target: dns.name.Name,
    known: dict[dns.name.Name, list[str]],
    talk: _Conversation,
    query: SrvQuery,
    resolve_host: hostnames.Resolve,
) -> list[str]:
    """The target's addresses: from the response, else from its name (.addr.), else asked."""
    if known.get(target):
        return known[target]
    domain = dns.name.from_text(query.domain)
    if not target.is_subdomain(domain):  # an external service's own name
        try:
            return resolve_host(target.to_text(omit_final_dot=True))
        except LookupError as err:
            log.debug("cannot resolve SRV target %s: %s", target, err)
            return []
    labels = [label.decode().lower() for label in target.relativize(domain).labels]
    if len(labels) >= 2 and labels[1] == "addr":
        try:
            return [str(ipaddress.ip_address(bytes.fromhex(labels[0])))]
        except ValueError:
            pass
    addresses: list[str] = []
    for rdtype in ("A", "AAAA"):  # Consul left ADDITIONAL out: ask the same server
        try:
            response = talk.ask(target.to_text(), rdtype)
        except DiscoveryError as err:
            log.debug("cannot resolve SRV target %s: %s", target, err)
            continue
        addresses += _addresses(response).get(target, [])
    return addresses


def _pair(records: list[SRV], addresses: list[str]) -> list[tuple[SRV, str]]:
    """(SRV record, address) pairs for one target. Several records sharing a target (Consul
    1.19.0) are matched in order when ADDITIONAL holds one address each, as Consul writes it;
    otherwise every address goes with every port."""
    if len(records) > 1 and len(records) == len(addresses):
        return list(zip(records, addresses, strict=True))
    by_port = {record.port: record for record in records}
    return [(record, address) for record in by_port.values() for address in addresses]


def _endpoint(
    query: SrvQuery,
    record: SRV,
    address: str,
    target: dns.name.Name,
    own_node: str,
    own_ips: set[IP] | None,
) -> Endpoint:
    ip = _ip(address)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    name = node_of(target.to_text(), query.domain)
    if name is not None:  # a .node. target names the node
        owner = Owner.OWN if own_node and name == own_node.lower() else Owner.OTHER
    elif own_ips is None:
        owner = Owner.UNKNOWN
    else:
        owner = Owner.OWN if ip in own_ips else Owner.OTHER
        name = own_node.lower() if owner is Owner.OWN else None
    return Endpoint(
        url=f"{query.scheme}://{host}:{record.port}",
        owner=owner,
        node=name,
        priority=record.priority,
        weight=record.weight,
        target=target.to_text().lower(),
    )


def _ip(address: str) -> IP:
    return ipaddress.ip_address(address.split("%", 1)[0])


def node_of(target: str, domain: str) -> str | None:
    """'pi-01.node.dc1.consul.' → 'pi-01' (node names may contain dots); None otherwise."""
    try:
        relative = dns.name.from_text(target).relativize(dns.name.from_text(domain))
    except dns.exception.DNSException:
        return None
    labels = tuple(label.decode().lower() for label in relative.labels)
    for i in range(len(labels) - 1, 0, -1):
        if labels[i] == "node" and len(labels) - i - 1 <= 1:  # <node>.node[.<dc>]
            return ".".join(labels[:i])
    return None


def order(endpoints: list[Endpoint], rng: random.Random) -> list[Endpoint]:
    """Our own instances first, then by priority; RFC 2782 weighted shuffle within one."""
    own = [e for e in endpoints if e.is_own]
    rest = [e for e in endpoints if not e.is_own]
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

    - `address()`: the URL to use now; asks Consul DNS when the list is used up.
    - `failed()`: that address did not answer; move on. False once the list is used
      up, after which the next `address()` asks again (the caller backs off in
      between, so Consul's TTL of 0 never turns into a DNS storm).
    - `current()`: the discovered Endpoint in use, or None for a static address. Its
      `owner` says whether it is this host's own Nomad client; only `Owner.OWN` is,
      so callers must find their node by name for OTHER and UNKNOWN.
    - `via`: "consul", "static" or "static fallback" (for the STATUS line).
    """

    def __init__(
        self,
        query: SrvQuery | None,
        static: str | None,
        own_node: str,
        rng: random.Random | None = None,
        resolve: Callable[[SrvQuery, str], list[Endpoint]] = lookup,
    ) -> None:
        if query is None and static is None:
            raise ValueError("need a Consul DNS query or a static address")
        self._query = query
        self._static = static
        self._own_node = own_node
        self._rng = rng or random.Random()
        self._resolve = resolve
        self._candidates: list[Endpoint] = []
        self._noted = ""
        self.via = "static" if query is None else "consul"

    def address(self) -> str:
        if self._query is None:
            return self._static  # type: ignore[return-value]
        if not self._candidates:
            try:
                self._candidates = order(self._resolve(self._query, self._own_node), self._rng)
                self.via = "consul"
            except DiscoveryError as err:
                if self._static is None:
                    raise
                log.warning("%s; using the static nomad.address fallback", err)
                self.via = "static fallback"
                return self._static
            self._note_ownership()
            log.debug("discovered Nomad: %s", ", ".join(e.hostport for e in self._candidates))
        return self._candidates[0].url

    def current(self) -> Endpoint | None:
        """The discovered instance in use; None when the address is static (or the fallback)."""
        if self.via == "consul" and self._candidates:
            return self._candidates[0]
        return None

    def failed(self) -> bool:
        """The current address did not answer: move on. True if another is left."""
        if self._candidates:
            self._candidates.pop(0)
        return bool(self._candidates)

    def _note_ownership(self) -> None:
        """Say once (per change) when no instance is known to be this host's."""
        owners = {e.owner for e in self._candidates}
        count = len(self._candidates)
        if Owner.OWN in owners:
            note = ""
        elif Owner.UNKNOWN in owners:
            note = (
                f"Consul DNS knows no node {self._own_node!r} (consul.node_name): cannot tell "
                f"which of {count} Nomad instance(s) is this host's; the node is found by name"
            )
        else:
            note = (
                f"none of {count} Nomad instance(s) is at the address of Consul node "
                f"{self._own_node!r}; using another host's Nomad client, the node is found by name"
            )
        if note and note != self._noted:
            log.warning("%s", note)
        self._noted = note
