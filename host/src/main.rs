//! The `rulehost` command.

fn main() -> std::process::ExitCode {
    rulehost::cli::main()
}
