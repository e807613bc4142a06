"""Run every benchmark and print its numbers."""

from bench import bench_discovery, bench_display, bench_latency, bench_mapping, bench_nomad_sim

for suite in (bench_mapping, bench_display, bench_latency, bench_discovery, bench_nomad_sim):
    print(f"# {suite.__name__}")
    suite.main()
