"""Reading the neutral snapshots the sources emit, in tests."""


def jobs(snapshot):
    """The Nomad jobs of the shown node's allocations, in Nomad's order (the simulator
    names an allocation `<job>.<group>[<slot>]`, as Nomad does)."""
    return [w.name.partition(".")[0] for w in snapshot.node.workloads]
