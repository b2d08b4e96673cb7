"""Developer tools, kept out of the runtime package: benchmarks and the local stack (`python -m devtools`)."""
