"""Simulated Consul DNS interface (UDP and TCP on one port) that answers as Consul does.

Modelled on hashicorp/consul agent/dns.go (the DNS server of 1.7 to 1.18 and again from
1.19.2 on); docs/CONFORMANCE.md maps every behaviour to its function there and to the
test that pins it. Names under <domain> (<dc> is optional wherever shown in brackets):

    [<tag>.]<service>.service[.<dc>].<domain>   SRV / A / AAAA of the passing instances
    _<service>._<tag>.service[.<dc>].<domain>   RFC 2782 form; the tag "_tcp" means any tag
    <node>.node[.<dc>].<domain>                 A / AAAA of the node (its meta as TXT)
    <hex-ip>.addr[.<dc>].<domain>               the address written in the name

An instance registered with its own service address (as Nomad registers `nomad-client`)
gets the SRV target <hex-ip>.addr.<dc>.<domain>., one without gets <node>.node.<dc>.<domain>.
Answers are shuffled, priority 1, weight 1 (Weights.Passing), TTL 0; ADDITIONAL holds the
targets' A/AAAA and the nodes' meta as TXT. UDP without EDNS0 gets at most
`udp_answer_limit` (3) answers, EDNS0 answers are trimmed to the client's size, TCP to 64 KiB;
TC is set for a trimmed answer only with `enable_truncate`. Unknown names get NXDOMAIN with
the SOA in AUTHORITY, names outside the domain REFUSED (an agent without recursors).

`service_name_targets` reproduces Consul 1.19.0 (hashicorp/consul#21325): every instance with
a service address gets the SRV target <service>.service.<dc>.<domain>.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple, TypeAlias

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.renderer
import dns.rrset

from blinkt_agent.sim.loopback import LoopbackServer

# (answer, additional, nodata) for a question; None stands for NXDOMAIN.
Sections: TypeAlias = tuple[list[dns.rrset.RRset], list[dns.rrset.RRset], bool]

MODES = ("normal", "servfail", "nxdomain", "drop", "refused")

# agent/dns.go: maxUDPAnswerLimit caps udp_answer_limit; defaultMaxUDPSize without EDNS0;
# maxUDPDatagramSize caps an EDNS0 size; trimTCPResponse's 64 KiB less the overhead.
MAX_UDP_ANSWER_LIMIT = 8
DEFAULT_MAX_UDP_SIZE = 512
MAX_UDP_DATAGRAM_SIZE = 65535 - 68
MAX_TCP_SIZE = 65523

# Consul adds this meta to every node it registers (structs.MetaSegmentKey).
DEFAULT_NODE_META = {"consul-network-segment": ""}

_KINDS = ("service", "connect", "virtual", "ingress", "node", "query", "addr")
_A, _AAAA, _SRV, _TXT, _ANY = (
    dns.rdatatype.A,
    dns.rdatatype.AAAA,
    dns.rdatatype.SRV,
    dns.rdatatype.TXT,
    dns.rdatatype.ANY,
)


class Asked(NamedTuple):
    """One query as the simulator received it."""

    name: str  # lower case, absolute
    rdtype: str  # "SRV", "A", ...
    transport: str  # "udp" or "tcp"
    payload: int  # the EDNS0 UDP size asked for; 0 without EDNS0


@dataclass
class _Node:
    name: str
    address: str
    meta: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_NODE_META))


@dataclass(frozen=True)
class _Instance:
    service: str
    node: str
    port: int
    address: str  # the service address; "" = the node's
    tags: tuple[str, ...]
    weight: int


class SimConsulDNS(LoopbackServer):
    """Consul's DNS interface over a catalog of nodes and service instances.

    Defaults are Consul's (dns_config: udp_answer_limit = 3, enable_truncate = false,
    enable_additional_node_meta_txt = true). `mode`, `omit_additional` and `tcp=False`
    inject faults that real Consul does not have on its own.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        domain: str = "consul",
        datacenter: str = "dc1",
        *,
        udp_answer_limit: int = 3,
        enable_truncate: bool = False,
        node_meta_txt: bool = True,
        service_name_targets: bool = False,
        tcp: bool = True,
        rng: random.Random | None = None,
    ):
        self.host = host
        self._port = port
        self.domain = dns.name.from_text(domain)
        self.datacenter = datacenter.lower()
        self.udp_answer_limit = udp_answer_limit
        self.enable_truncate = enable_truncate
        self.node_meta_txt = node_meta_txt
        self.service_name_targets = service_name_targets
        self.tcp = tcp
        self.mode = "normal"
        self.omit_additional = False
        self.query_log: list[Asked] = []
        self._rng = rng or random.Random()
        self._nodes: dict[str, _Node] = {}
        self._instances: dict[tuple[str, str], _Instance] = {}
        self._lock = threading.Lock()
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self._port}"

    # -- catalog --------------------------------------------------------------------------

    def register(
        self,
        service: str,
        node: str,
        address: str,
        port: int,
        *,
        tags: tuple[str, ...] | list[str] = ("http",),
        weight: int = 1,
        with_address: bool = True,
        node_address: str | None = None,
        node_meta: dict[str, str] | None = None,
    ) -> None:
        """One instance of `service` on `node` (which is created or updated).

        with_address: the registration names its address, as Nomad's does for nomad-client
        (SRV target <hex-ip>.addr.…); False: it has none, Consul uses the node's (<node>.node.…).
        `address` may also be a host name outside the domain (an external service): the
        target is that name, with no address in ADDITIONAL (no recursors).
        node_address: the Consul node's own address (required if `address` is a name).
        """
        ipaddress.ip_address(node_address or address)  # nodes have IP addresses here
        with self._lock:
            self._set_node(node, node_address or address, node_meta)
            instance = _Instance(
                service.lower(), node.lower(), port, address if with_address else "",
                tuple(t.lower() for t in tags), weight,
            )  # fmt: skip
            self._instances[(instance.service, instance.node)] = instance

    def deregister(self, service: str, node: str) -> None:
        with self._lock:
            self._instances.pop((service.lower(), node.lower()), None)

    def set_node(self, name: str, address: str, meta: dict[str, str] | None = None) -> None:
        """A Consul node without (or besides) services: what <name>.node answers."""
        ipaddress.ip_address(address)
        with self._lock:
            self._set_node(name, address, meta)

    def _set_node(self, name: str, address: str, meta: dict[str, str] | None) -> None:
        old = self._nodes.get(name.lower())
        kept = old.meta if old else dict(DEFAULT_NODE_META)
        self._nodes[name.lower()] = _Node(name.lower(), address, meta if meta is not None else kept)

    # -- sockets --------------------------------------------------------------------------

    def start(self) -> SimConsulDNS:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(50):  # port 0: find a number free for both UDP and TCP
            udp = socket.socket(family, socket.SOCK_DGRAM)
            udp.bind((self.host, self._port))
            port = udp.getsockname()[1]
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, port))
            except OSError:
                udp.close()
                tcp.close()
                if self._port:
                    raise
                continue
            break
        else:
            raise OSError(f"no port on {self.host} free for both UDP and TCP")
        if self.tcp:
            tcp.listen(16)
        # else: bound but not listening, so that TCP connections are refused
        udp.settimeout(0.1)  # lets the loops notice stop()
        tcp.settimeout(0.1)
        self._udp, self._tcp, self._port = udp, tcp, port
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=self._serve_udp, name="sim-consul-dns-udp", daemon=True)
        ]
        if self.tcp:
            self._threads.append(
                threading.Thread(target=self._serve_tcp, name="sim-consul-dns-tcp", daemon=True)
            )
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for sock in (self._udp, self._tcp):
            if sock:
                sock.close()
        self._threads, self._udp, self._tcp = [], None, None

    def _serve_udp(self) -> None:
        assert self._udp is not None
        while not self._stopping.is_set():
            try:
                wire, peer = self._udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(wire)
            except dns.exception.DNSException:
                continue  # Consul ignores garbage too
            response = self.respond(query, "udp")
            if response is not None:
                self._udp.sendto(response.to_wire(), peer)

    def _serve_tcp(self) -> None:
        assert self._tcp is not None
        while not self._stopping.is_set():
            try:
                conn, _peer = self._tcp.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=self._serve_connection, args=(conn,), daemon=True).start()

    def _serve_connection(self, conn: socket.socket) -> None:
        """Length-prefixed messages (RFC 1035 4.2.2), several per connection as miekg/dns allows."""
        conn.settimeout(2.0)
        try:
            while not self._stopping.is_set():
                head = _recv_exactly(conn, 2)
                wire = _recv_exactly(conn, int.from_bytes(head, "big")) if head else b""
                if not wire:
                    return
                try:
                    query = dns.message.from_wire(wire)
                except dns.exception.DNSException:
                    return
                response = self.respond(query, "tcp")
                if response is not None:
                    out = response.to_wire()
                    conn.sendall(len(out).to_bytes(2, "big") + out)
        except OSError:
            pass
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    # -- answering (agent/dns.go handleQuery) ---------------------------------------------

    def respond(
        self, query: dns.message.Message, transport: str = "udp"
    ) -> dns.message.Message | None:
        """The response to `query` as received over `transport` (None: stay silent)."""
        if not query.question:
            return None
        question = query.question[0]
        payload = query.payload if query.edns >= 0 else 0
        self.query_log.append(
            Asked(
                question.name.to_text().lower(),
                dns.rdatatype.to_text(question.rdtype),
                transport,
                payload,
            )
        )
        if self.mode == "drop":
            return None
        response = dns.message.make_response(query)
        if query.edns >= 0:  # setEDNS: echo the client's size
            response.use_edns(0, 0, query.payload)
        if self.mode in ("servfail", "refused") or not question.name.is_subdomain(self.domain):
            # miekg/dns ServeMux: no handler for the name (no recursors) → REFUSED, not AA.
            refused = self.mode != "servfail"
            response.set_rcode(dns.rcode.REFUSED if refused else dns.rcode.SERVFAIL)
            return response
        response.flags |= dns.flags.AA  # RA stays clear: no recursors
        with self._lock:
            found = None if self.mode == "nxdomain" else self._dispatch(question)
        if found is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self._soa())
            return response
        answer, additional, nodata = found
        response.answer.extend(answer)
        response.additional.extend(additional)
        if nodata:  # RFC 2308 NODATA: NOERROR, no answer, the SOA in AUTHORITY
            response.authority.append(self._soa())
        if transport == "udp":
            trimmed = _trim_udp(query, response, self.udp_answer_limit)
        else:
            trimmed = _trim_tcp(question.rdtype, response)
        if trimmed and self.enable_truncate:
            response.flags |= dns.flags.TC
        if self.omit_additional:
            response.additional.clear()
        return response

    # -- lookups (lock held) --------------------------------------------------------------

    def _dispatch(self, question: dns.rrset.RRset) -> Sections | None:
        """(answer, additional, nodata), or None for NXDOMAIN (agent/dns.go dispatch)."""
        relative = question.name.relativize(self.domain)
        labels = [label.decode().lower() for label in relative.labels]
        kind: str | None = None
        parts: list[str] = []
        suffixes: list[str] = []
        for i in range(len(labels) - 1, -1, -1):
            if labels[i] in _KINDS:
                kind, parts, suffixes = labels[i], labels[:i], labels[i + 1 :]
                break
            if question.rdtype == _SRV and labels[i].startswith("_"):
                kind, parts, suffixes = "service", labels[: i + 1], labels[i + 1 :]
                break
        if kind == "addr":  # the datacenter label is ignored
            return self._addr(question, parts)
        if kind not in ("service", "node") or not parts or len(suffixes) > 1:
            return None
        datacenter = suffixes[0] if suffixes else self.datacenter
        if datacenter != self.datacenter:
            return None  # "No path to datacenter" → NXDOMAIN
        if kind == "node":
            return self._node(question, ".".join(parts))
        return self._service(question, parts, datacenter)

    def _service(
        self, question: dns.rrset.RRset, parts: list[str], datacenter: str
    ) -> Sections | None:
        """handleServiceQuery: the shuffled passing instances of service[/tag]."""
        if len(parts) == 2 and parts[0].startswith("_") and parts[1].startswith("_"):
            service, tag = parts[0][1:], parts[1][1:]
            tag = "" if tag == "tcp" else tag
        else:
            service, tag = parts[-1], ".".join(parts[:-1])
        instances = [
            i
            for i in self._instances.values()
            if i.service == service and (not tag or tag in i.tags)
        ]
        if not instances:
            return None
        self._rng.shuffle(instances)
        answer: list[dns.rrset.RRset] = []
        additional: list[dns.rrset.RRset] = []
        seen: set[object] = set()
        for instance in instances:
            node = self._nodes[instance.node]
            address = instance.address or node.address
            # the same node, address and port (for A: the same address) only once
            key: object = (node.name, instance.address, instance.port)
            if question.rdtype != _SRV:
                key = address
            if key in seen:
                continue
            seen.add(key)
            if question.rdtype == _SRV:
                target = self._target(instance, node, datacenter)
                answer.append(_srv(question.name, instance.weight, instance.port, target))
                if _is_ip(address):  # makeRecordFromFQDN: nothing without recursors
                    additional.append(_rr(target, _ip_type(address), address))
                if self.node_meta_txt:  # named after the node, whatever the target
                    node_name = f"{node.name}.node.{datacenter}.{self.domain}"
                    additional.extend(self._meta(node_name, node))
            elif _is_ip(address) and _fits(question.rdtype, address):
                answer.append(_rr(question.name, _ip_type(address), address))
        return answer, additional, not answer

    def _target(self, instance: _Instance, node: _Node, datacenter: str) -> str:
        """makeNodeServiceRecords: .addr. for a service address, .node. without one."""
        if not instance.address:
            return f"{node.name}.node.{datacenter}.{self.domain}"
        if not _is_ip(instance.address):  # makeRecordFromFQDN: the name itself
            return instance.address.rstrip(".") + "."
        if self.service_name_targets:  # Consul 1.19.0, hashicorp/consul#21325
            return f"{instance.service}.service.{datacenter}.{self.domain}"
        hex_ip = ipaddress.ip_address(instance.address).packed.hex()
        return f"{hex_ip}.addr.{datacenter}.{self.domain}"

    def _node(self, question: dns.rrset.RRset, name: str) -> Sections | None:
        """handleNodeQuery: the node's address; its meta as TXT (in ADDITIONAL for A/AAAA)."""
        node = self._nodes.get(name)
        if node is None:
            return None
        rdtype = question.rdtype
        if rdtype not in (_ANY, _A, _AAAA, _TXT):
            return [], [], False
        answer: list[dns.rrset.RRset] = []
        if rdtype != _TXT and _fits(rdtype, node.address):
            answer.append(_rr(question.name, _ip_type(node.address), node.address))
        additional: list[dns.rrset.RRset] = []
        if self.node_meta_txt or rdtype in (_TXT, _ANY):
            meta = self._meta(question.name, node)
            (answer if rdtype in (_TXT, _ANY) else additional).extend(meta)
        return answer, additional, False

    def _addr(self, question: dns.rrset.RRset, parts: list[str]) -> Sections | None:
        """dispatch "addr": 8 hex digits are an IPv4 address, 32 an IPv6 one."""
        if len(parts) != 1 or len(parts[0]) not in (8, 32):
            return None
        try:
            ip = ipaddress.ip_address(bytes.fromhex(parts[0]))
        except ValueError:
            return None
        record = _rr(question.name, _ip_type(str(ip)), str(ip))
        if question.rdtype in (_ANY, record.rdtype):
            return [record], [], False
        return [], [record], False

    def _meta(self, name: dns.name.Name | str, node: _Node) -> list[dns.rrset.RRset]:
        """makeTXTRecordFromNodeMeta: key=value (RFC 1464), or the bare value of rfc1035- keys."""
        records = []
        for key, value in node.meta.items():
            text = value if key.lower().startswith("rfc1035-") else _rfc1464(key, value)
            quoted = text.replace("\\", "\\\\").replace('"', '\\"')
            records.append(_rr(name, "TXT", f'"{quoted}"'))
        return records

    def _soa(self) -> dns.rrset.RRset:
        """makeSOARecord with Consul's default dns_config.soa (TTL = minttl = 0)."""
        soa = f"ns.{self.domain} hostmaster.{self.domain} {int(time.time())} 3600 600 86400 0"
        return dns.rrset.from_text(self.domain, 0, "IN", "SOA", soa)


def _rr(name: dns.name.Name | str, rdtype: str, text: str) -> dns.rrset.RRset:
    """One record per RRset, so that sections keep Consul's order and duplicates of a name."""
    return dns.rrset.from_text(name, 0, "IN", rdtype, text)


def _srv(name: dns.name.Name, weight: int, port: int, target: str) -> dns.rrset.RRset:
    """An SRV record whose target is never compressed: miekg/dns writes it in full (as
    RFC 2782 asks), while dnspython would compress it, and sizes must come out as Consul's."""
    wire = dns.name.from_text(target).to_wire()
    assert wire is not None  # (bytes when no file is given)
    data = struct.pack("!HHH", 1, weight, port) + wire
    rdata = dns.rdata.GenericRdata(dns.rdataclass.IN, _SRV, data)
    return dns.rrset.from_rdata(name, 0, rdata)


def _srv_target(rrset: dns.rrset.RRset) -> dns.name.Name:
    return dns.name.from_wire(next(iter(rrset)).data, 6)[0]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _ip_type(address: str) -> str:
    return "A" if ipaddress.ip_address(address).version == 4 else "AAAA"


def _fits(rdtype: int, address: str) -> bool:
    """makeARecord: an A only for A/ANY, an AAAA only for AAAA/ANY (SRV handled apart)."""
    return rdtype == _ANY or dns.rdatatype.from_text(_ip_type(address)) == rdtype


def _rfc1464(key: str, value: str) -> str:
    """encodeKVasRFC1464: quote ` and = in the key, and its leading and trailing spaces."""
    key = key.replace("`", "``").replace("=", "`=")
    stripped = key.lstrip(" ")
    key = "` " * (len(key) - len(stripped)) + stripped
    stripped = key.rstrip(" ")
    key = stripped + "` " * (len(key) - len(stripped))
    return key + "=" + value.replace("`", "``")


# -- trimming (agent/dns.go trimUDPResponse, trimTCPResponse, syncExtra) ------------------


def _trim_udp(query: dns.message.Message, response: dns.message.Message, limit: int) -> bool:
    """Without EDNS0: at most min(limit, 8) answers, then ≤ 512 bytes counted uncompressed.
    With EDNS0 > 512: as many answers as fit the client's size. True if answers were cut."""
    count = len(response.answer)
    max_size = DEFAULT_MAX_UDP_SIZE
    if query.edns >= 0 and query.payload > max_size:
        max_size = query.payload
    max_size = min(max_size, MAX_UDP_DATAGRAM_SIZE)
    index = _index(response.additional)
    has_extra = bool(response.additional)
    compress = True
    if max_size == DEFAULT_MAX_UDP_SIZE and count > min(MAX_UDP_ANSWER_LIMIT, limit):
        compress = False  # size the 512 bytes as if a downstream server decompressed it
        response.answer = response.answer[: min(MAX_UDP_ANSWER_LIMIT, limit)]
        if has_extra:
            _sync_extra(index, response)
    _trim_to(response, max_size, max_size - 8, index, has_extra, compress)
    return len(response.answer) < count


def _trim_tcp(rdtype: int, response: dns.message.Message) -> bool:
    """At most 1024 SRV (4096 other) answers and 64 KiB; never TC for TCP's sake."""
    count = len(response.answer)
    index = _index(response.additional)
    has_extra = bool(response.additional)
    response.answer = response.answer[: 1024 if rdtype == _SRV else 4096]
    trimmed = _trim_to(response, MAX_TCP_SIZE, MAX_TCP_SIZE, index, has_extra, True)
    return trimmed or len(response.answer) < count


def _trim_to(
    response: dns.message.Message,
    max_size: int,
    bound: int,
    index: Index,
    has_extra: bool,
    compress: bool,
) -> bool:
    trimmed = False
    while len(response.answer) > 1 and _length(response, compress) > bound:
        trimmed = True
        response.authority = []
        if _length(response, compress) - max_size > 100:
            best = _binary_truncate(response, max_size, index, has_extra, compress)
            response.answer = response.answer[:best]
        else:
            response.answer = response.answer[:-1]
        if has_extra:
            _sync_extra(index, response)
    return trimmed


def _binary_truncate(
    response: dns.message.Message, max_size: int, index: Index, has_extra: bool, compress: bool
) -> int:
    """dnsBinaryTruncate: the most answers whose message fits max_size."""
    original = response.answer
    start, end = 0, len(original) + 1
    while end - start > 1:
        median = start + (end - start) // 2
        response.answer = original[:median]
        if has_extra:
            _sync_extra(index, response)
        size = _length(response, compress)
        if size <= max_size:
            if max_size - size < 10:
                return median
            start = median
        else:
            end = median
    return start


Index: TypeAlias = dict[dns.name.Name, dns.rrset.RRset]


def _index(additional: list[dns.rrset.RRset]) -> Index:
    """indexRRs: the first additional record of each name."""
    index: Index = {}
    for rrset in additional:
        index.setdefault(rrset.name, rrset)
    return index


def _sync_extra(index: Index, response: dns.message.Message) -> None:
    """syncExtra: ADDITIONAL becomes the first record named after each SRV target
    (node TXT records and further addresses of a name are dropped)."""
    extra: list[dns.rrset.RRset] = []
    resolved: set[dns.name.Name] = set()
    for rrset in response.answer:
        if rrset.rdtype != _SRV:
            continue
        target = _srv_target(rrset)
        while target not in resolved:
            resolved.add(target)
            record = index.get(target)
            if record is None:
                break
            extra.append(record)
            if record.rdtype != dns.rdatatype.CNAME:
                break
            target = next(iter(record)).target
    response.additional = extra


class _NoCompression(dict[dns.name.Name, int]):
    """A compression table that never remembers a name: every name is written in full."""

    def __setitem__(self, key: dns.name.Name, value: int) -> None:
        pass


def _length(message: dns.message.Message, compress: bool) -> int:
    """miekg/dns Msg.Len(): the wire size, compressed or not."""
    renderer = dns.renderer.Renderer(message.id, message.flags, 65535)
    if not compress:
        renderer.compress = _NoCompression()
    for rrset in message.question:
        renderer.add_question(rrset.name, rrset.rdtype, rrset.rdclass)
    for section, rrsets in (
        (dns.renderer.ANSWER, message.answer),
        (dns.renderer.AUTHORITY, message.authority),
        (dns.renderer.ADDITIONAL, message.additional),
    ):
        for rrset in rrsets:
            renderer.add_rrset(section, rrset)
    if message.edns >= 0:
        renderer.add_edns(message.edns, message.ednsflags, message.payload, message.options)
    renderer.write_header()
    return len(renderer.get_wire())


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    """`size` bytes, or b"" if the peer closed the connection first."""
    data = b""
    while len(data) < size:
        try:
            chunk = conn.recv(size - len(data))
        except TimeoutError:
            return b""
        if not chunk:
            return b""
        data += chunk
    return data
