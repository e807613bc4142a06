"""Consul DNS discovery with a fleet of Pis: how many instances each transport sees, and
how often the agent starts with its own Pi's Nomad client.

The simulated Consul DNS answers as Consul's agent/dns.go does (docs/CONFORMANCE.md):
Nomad-style registrations (.addr. targets), shuffled, 3 answers over UDP without EDNS0.
"Before" replays the agent's former discovery (UDP without EDNS0, own instance by the
target's node label, "no name" taken for "mine"); "now" is discovery.lookup + order.
"""

import random
import statistics
import time

import dns.message
import dns.query
import dns.rdatatype

from blinkt_agent.sim import SimConsulDNS
from blinkt_agent.sources.nomad.discovery import SrvQuery, lookup, order

NAME = "http.nomad-client.service.consul."
RUNS = 300


def register(sim: SimConsulDNS, count: int) -> list[str]:
    for i in range(1, count + 1):
        sim.register("nomad-client", f"pi-{i:02d}", f"127.0.1.{i}", 4646)
    return [f"http://127.0.1.{i}:4646" for i in range(1, count + 1)]


def seen(sim: SimConsulDNS, transport: str) -> int:
    """SRV records in one answer: "udp" (no EDNS0), "edns-<size>" or "tcp"."""
    if transport == "tcp":
        response = dns.query.tcp(dns.message.make_query(NAME, "SRV"), sim.host, 2, sim.port)
    else:
        size = int(transport.removeprefix("edns-")) if transport != "udp" else None
        query = dns.message.make_query(NAME, "SRV", use_edns=0 if size else None, payload=size)
        response = dns.query.udp(query, sim.host, 2, sim.port)
    return sum(len(r) for r in response.answer if r.rdtype == dns.rdatatype.SRV)


def before_first_pick(sim: SimConsulDNS, own: str, rng: random.Random) -> tuple[str, bool]:
    """The former agent: UDP without EDNS0; own = a target <own>.node.…; else random.
    Returns (first URL, whether the watcher took it for its own client)."""
    response = dns.query.udp(dns.message.make_query(NAME, "SRV"), sim.host, 2, sim.port)
    records = [rd for r in response.answer if r.rdtype == dns.rdatatype.SRV for rd in r]
    labels = [rd.target.to_text().split(".") for rd in records]
    nodes = [lab[0] if len(lab) >= 3 and lab[1] == "node" else None for lab in labels]
    mine = [i for i, node in enumerate(nodes) if node == own]
    first = mine[0] if mine else rng.randrange(len(records))
    address = f"http://{records[first].target.to_text().split('.')[0]}"
    hex_ip = address.removeprefix("http://")
    if len(hex_ip) == 8:  # .addr. target: the address is spelled in the name
        address = "http://" + ".".join(str(int(hex_ip[i : i + 2], 16)) for i in range(0, 8, 2))
    return f"{address}:{records[first].port}", nodes[first] is None or nodes[first] == own


def main() -> None:
    rng = random.Random(1)
    for count in (3, 12, 40):
        with SimConsulDNS() as sim:
            register(sim, count)
            counts = {t: seen(sim, t) for t in ("udp", "edns-1232", "edns-4096", "tcp")}
        print(
            f"instances seen of {count:>2}: UDP without EDNS0 {counts['udp']}, "
            f"EDNS0 1232 {counts['edns-1232']}, EDNS0 4096 {counts['edns-4096']}, "
            f"TCP {counts['tcp']}"
        )
    for label, service_name_targets in (
        ("addr targets (Consul 1.7+, Nomad)", False),
        ("service targets (Consul 1.19.0)", True),
    ):
        with SimConsulDNS(rng=random.Random(2), service_name_targets=service_name_targets) as sim:
            urls = register(sim, 12)
            query = SrvQuery(sim.host, sim.port)
            before_right = before_mine_wrong = now_right = now_flagged = 0
            times = []
            for _ in range(RUNS):
                pick = rng.randrange(12)
                own, own_url = f"pi-{pick + 1:02d}", urls[pick]
                if not service_name_targets:
                    first, taken_as_mine = before_first_pick(sim, own, rng)
                    before_right += first == own_url
                    before_mine_wrong += taken_as_mine and first != own_url
                started = time.perf_counter()
                endpoints = lookup(query, own)
                times.append(time.perf_counter() - started)
                ordered = order(endpoints, rng)
                now_right += ordered[0].url == own_url
                now_flagged += [e.url for e in endpoints if e.is_own] == [own_url]
        if not service_name_targets:
            print(
                f"{label}, before: first pick is the own Pi in {before_right}/{RUNS} runs; "
                f"another Pi's client taken for its own in {before_mine_wrong}/{RUNS}"
            )
        print(
            f"{label}, now: first pick is the own Pi in {now_right}/{RUNS} runs, "
            f"exactly the own instance flagged in {now_flagged}/{RUNS}; one discovery round "
            f"(SRV + node A/AAAA over TCP) median {statistics.median(times) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
