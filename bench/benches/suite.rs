//! `cargo bench -p rulehost-bench`: runs the whole suite and prints one
//! table (see BENCHMARKS.md).

fn main() {
    std::process::exit(rulehost_bench::main());
}
