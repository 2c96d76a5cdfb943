//! The `rulehost` command.

// A plugin decision allocates on one thread and the decision log frees on
// another; glibc's malloc makes both wait on one arena's lock. mimalloc
// frees to the owning thread's heap without one (BENCHMARKS.md: +39%
// in-process decisions/s, -40% single-decision latency).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    rulehost::cli::main()
}
