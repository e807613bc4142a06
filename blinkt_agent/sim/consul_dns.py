"""Simulated Consul DNS interface (UDP) on loopback, answering the way Consul does.

Names under <domain> (default "consul"; <dc> is optional wherever shown in brackets):
    [<tag>.]<service>.service[.<dc>].<domain>    SRV (and A) of the passing instances
    _<service>._<tag>.service[.<dc>].<domain>    RFC 2782 form; the tag "_tcp" means any tag
    <node>.node[.<dc>].<domain>                  A of the node
    <hex-ip>.addr[.<dc>].<domain>                A of that address (SRV targets of instances
                                                 whose address differs from their node's)
TTLs are 0. SRV answers are shuffled and, over UDP, limited to `udp_answer_limit` records
(Consul's default is 3); the ADDITIONAL section carries the targets' A records (and
"consul-network-segment=" TXT for node targets). Unknown names get NXDOMAIN with the SOA in
AUTHORITY, names outside the domain REFUSED (a Consul agent without recursors).
"""

from __future__ import annotations

import ipaddress
import random
import socket
import threading
import time
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from blinkt_agent.sim.loopback import LoopbackServer

MODES = ("normal", "servfail", "nxdomain", "drop", "refused")


@dataclass(frozen=True)
class _Instance:
    service: str
    node: str
    ip: str
    port: int
    tags: tuple[str, ...]
    priority: int
    weight: int
    addr_target: bool


class SimConsulDNS(LoopbackServer):
    """Consul's DNS interface for a fixed catalog; `mode` and `omit_additional` inject faults."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        domain: str = "consul",
        datacenter: str = "dc1",
        udp_answer_limit: int = 3,
    ):
        self.host = host
        self._port = port
        self.domain = dns.name.from_text(domain)
        self.datacenter = datacenter.lower()
        self.udp_answer_limit = udp_answer_limit
        self.mode = "normal"
        self.omit_additional = False
        self.query_log: list[tuple[str, str]] = []
        self._instances: dict[tuple[str, str], _Instance] = {}
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> SimConsulDNS:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((self.host, self._port))
        self._sock.settimeout(0.1)  # lets the loop notice stop()
        self._port = self._sock.getsockname()[1]
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="sim-consul-dns", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread:
            self._thread.join()
        if self._sock:
            self._sock.close()
        self._thread = self._sock = None

    def register(
        self,
        service: str,
        node: str,
        ip: str,
        port: int,
        *,
        tags: tuple[str, ...] | list[str] = ("http",),
        priority: int = 1,
        weight: int = 1,
        addr_target: bool = False,
    ) -> None:
        """One instance of `service` on `node`. addr_target: the service address differs from
        the node's, so Consul names the SRV target <hex-ip>.addr.<dc>.<domain>."""
        instance = _Instance(
            service.lower(), node.lower(), ip, port,
            tuple(t.lower() for t in tags), priority, weight, addr_target,
        )  # fmt: skip
        with self._lock:
            self._instances[(instance.service, instance.node)] = instance

    def deregister(self, service: str, node: str) -> None:
        with self._lock:
            self._instances.pop((service.lower(), node.lower()), None)

    # -- serving --------------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                wire, peer = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            try:
                query = dns.message.from_wire(wire)
            except dns.exception.DNSException:
                continue  # Consul ignores garbage too
            response = self.respond(query)
            if response is not None:
                self._sock.sendto(_to_wire(query, response), peer)

    def respond(self, query: dns.message.Message) -> dns.message.Message | None:
        """The response to `query` (None: stay silent, for mode "drop")."""
        if not query.question:
            return None
        question = query.question[0]
        self.query_log.append(
            (question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype))
        )
        if self.mode == "drop":
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.flags &= ~dns.flags.RA  # Consul without recursors does not recurse
        if self.mode in ("servfail", "refused"):
            response.set_rcode(dns.rcode.SERVFAIL if self.mode == "servfail" else dns.rcode.REFUSED)
            return response
        if not question.name.is_subdomain(self.domain):
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.REFUSED)
            return response
        with self._lock:
            found = None if self.mode == "nxdomain" else self._lookup(question)
        if found is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self._soa())
            return response
        answer, additional = found
        response.answer.extend(answer)
        if not answer:  # the name exists, but has no records of that type
            response.authority.append(self._soa())
        if not self.omit_additional:
            response.additional.extend(additional)
        return response

    # -- lookups (lock held) --------------------------------------------------------------

    def _lookup(self, question: dns.rrset.RRset) -> tuple[list, list] | None:
        """(answer rrsets, additional rrsets), or None for NXDOMAIN."""
        labels = [label.decode().lower() for label in question.name.relativize(self.domain)]
        kind_at = next(
            (i for i in (len(labels) - 1, len(labels) - 2) if i >= 1 and labels[i] in _KINDS),
            None,
        )
        if kind_at is None or labels[kind_at + 1 :] not in ([], [self.datacenter]):
            return None
        kind, prefix = labels[kind_at], labels[:kind_at]
        if kind == "service":
            return self._service(question, prefix)
        ip = self._node_ip(prefix) if kind == "node" else _hex_ip(prefix)
        if ip is None:
            return None
        if question.rdtype != dns.rdatatype.A:
            return [], []
        return [dns.rrset.from_text(question.name, 0, "IN", "A", ip)], []

    def _service(self, question: dns.rrset.RRset, prefix: list[str]) -> tuple[list, list] | None:
        if len(prefix) == 2 and all(p.startswith("_") for p in prefix):
            service, tag = prefix[0][1:], prefix[1][1:]
            tag = None if tag == "tcp" else tag
        elif len(prefix) in (1, 2):
            service, tag = prefix[-1], (prefix[0] if len(prefix) == 2 else None)
        else:
            return None
        instances = [
            i
            for i in self._instances.values()
            if i.service == service and (tag is None or tag in i.tags)
        ]
        if not instances:
            return None
        random.shuffle(instances)  # Consul shuffles; clients must not rely on the order
        instances = instances[: self.udp_answer_limit]
        if question.rdtype == dns.rdatatype.A:
            ips = [i.ip for i in instances]
            return [dns.rrset.from_text_list(question.name, 0, "IN", "A", ips)], []
        if question.rdtype != dns.rdatatype.SRV:
            return [], []
        srv = [f"{i.priority} {i.weight} {i.port} {self._target(i)}" for i in instances]
        additional = []
        for i in instances:
            additional.append(dns.rrset.from_text(self._target(i), 0, "IN", "A", i.ip))
            if not i.addr_target:
                txt = '"consul-network-segment="'
                additional.append(dns.rrset.from_text(self._target(i), 0, "IN", "TXT", txt))
        return [dns.rrset.from_text_list(question.name, 0, "IN", "SRV", srv)], additional

    def _target(self, instance: _Instance) -> str:
        if instance.addr_target:
            hex_ip = ipaddress.IPv4Address(instance.ip).packed.hex()
            return f"{hex_ip}.addr.{self.datacenter}.{self.domain}"
        return f"{instance.node}.node.{self.datacenter}.{self.domain}"

    def _node_ip(self, prefix: list[str]) -> str | None:
        if len(prefix) != 1:
            return None
        return next((i.ip for i in self._instances.values() if i.node == prefix[0]), None)

    def _soa(self) -> dns.rrset.RRset:
        serial = int(time.time())
        soa = f"ns.{self.domain} hostmaster.{self.domain} {serial} 3600 600 86400 0"
        return dns.rrset.from_text(self.domain, 0, "IN", "SOA", soa)


_KINDS = ("service", "node", "addr")


def _hex_ip(prefix: list[str]) -> str | None:
    if len(prefix) != 1 or len(prefix[0]) != 8:
        return None
    try:
        return str(ipaddress.IPv4Address(bytes.fromhex(prefix[0])))
    except ValueError:
        return None


def _to_wire(query: dns.message.Message, response: dns.message.Message) -> bytes:
    """Render within the client's UDP size (512, or its EDNS payload): drop additional
    records first, then answers, and only then admit truncation."""
    limit = max(512, query.payload) if query.edns >= 0 else 512
    while True:
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            if response.additional:
                response.additional.pop()
            elif response.answer and len(response.answer[0]) > 1:
                response.answer[0].discard(list(response.answer[0])[-1])
            else:
                response.answer.clear()
                response.flags |= dns.flags.TC
