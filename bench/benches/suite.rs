//! `cargo bench -p rulehost-bench`: runs the whole suite and prints one
//! table (see BENCHMARKS.md).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(rulehost_bench::main());
}
