"""Mapping throughput: Nomad JSON normalised per answer, frames per second per render,
for growing allocation lists and clusters."""

import time

from blinkt_agent.mapping import Palette, allocations_frame, nodes_frame, resource_frame
from blinkt_agent.snapshot import Node
from blinkt_agent.sources.nomad.normalise import node_of, workloads_of

NOW = 1_700_000_000 * 10**9
STATUSES = [("running", "run"), ("pending", "run"), ("running", "stop"), ("failed", "run")]


def allocations(count):
    return [
        {
            "ID": f"{i:08x}",
            "CreateIndex": count - i,  # reversed so that the sort does real work
            "ModifyTime": NOW - i * 10**9,
            "ClientStatus": STATUSES[i % 4][0],
            "DesiredStatus": STATUSES[i % 4][1],
            "AllocatedResources": {
                "Tasks": {"web": {"Cpu": {"CpuShares": 100}, "Memory": {"MemoryMB": 64}}},
                "Shared": {"DiskMB": 300, "Networks": [{"MBits": 10}]},
            },
        }
        for i in range(count)
    ]


NODE = {
    "NodeResources": {"Cpu": {"CpuShares": 10**6}, "Memory": {"MemoryMB": 10**6}},
    "ReservedResources": {"Cpu": {"CpuShares": 100}},
}


def per_second(call, seconds=1.0):
    """Calls of `call` per second, measured over about `seconds`."""
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        call()
        count += 1
    return count / elapsed


def main():
    palette = Palette.default()
    for count in (8, 100, 1000):
        allocs = allocations(count)
        rate = per_second(lambda a=allocs: workloads_of(a, with_usage=False))
        print(f"normalise (Nomad)  {count:5d} allocations  {rate:10.0f} answers/s")
        rate = per_second(lambda a=allocs: workloads_of(a))
        print(f"  with usage       {count:5d} allocations  {rate:10.0f} answers/s")
        workloads = workloads_of(allocs)
        rate = per_second(lambda w=workloads: allocations_frame(w, NOW, palette, 300, 0.2))
        print(f"allocations_frame  {count:5d} allocations  {rate:10.0f} frames/s")
    for count in (8, 1000):
        node = node_of("pi-01", NODE, allocations(count), with_capacity=True)
        rate = per_second(lambda n=node: resource_frame(n, "cpu", 0.2))
        print(f"resource_frame cpu {count:5d} allocations  {rate:10.0f} frames/s")
    for nodes in (8, 100):
        cluster = [
            Node(f"pi-{i:03d}", workloads=workloads_of(allocations(10))) for i in range(nodes)
        ]
        rate = per_second(lambda c=cluster: nodes_frame(c, NOW, palette, 300, 0.2))
        print(f"nodes_frame        {nodes:5d} nodes x 10    {rate:10.0f} frames/s")


if __name__ == "__main__":
    main()
