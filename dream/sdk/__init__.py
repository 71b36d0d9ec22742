"""Guest SDK sources (Go, C, Zig, AssemblyScript, Rust) that dream builds functions against."""
