//! The `authgate` binary: parse the command line, run the command, print errors as one
//! clear sentence and exit non-zero. Command bodies live in the library (`authgate::cli`).

/// jemalloc instead of glibc's malloc: hyper's per-request head maps and buffers are many
/// short-lived allocations, and under load jemalloc costs ~1–3 µs less CPU per proxied
/// request (13 interleaved pairs in `docs/performance.md`). The only static in the binary:
/// an allocator cannot be injected.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    authgate::cli::main()
}
