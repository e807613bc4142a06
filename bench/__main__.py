"""Run every benchmark and print its numbers."""

from bench import (
    bench_discovery,
    bench_display,
    bench_displays,
    bench_identity,
    bench_idle,
    bench_kubernetes,
    bench_latency,
    bench_mapping,
    bench_nomad_sim,
    bench_recovery,
)

SUITES = (
    bench_mapping,
    bench_display,
    bench_displays,
    bench_latency,
    bench_kubernetes,
    bench_discovery,
    bench_identity,
    bench_nomad_sim,
    bench_idle,
    bench_recovery,
)
for suite in SUITES:
    print(f"# {suite.__name__}")
    suite.main()
