"""What the tests and the benchmarks share: engines and registries beside the main one."""
