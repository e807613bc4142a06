"""Run every benchmark and print its numbers."""

from bench import bench_display, bench_idle, bench_latency, bench_mapping, bench_recovery

for suite in (bench_mapping, bench_display, bench_latency, bench_idle, bench_recovery):
    print(f"# {suite.__name__}")
    suite.main()
