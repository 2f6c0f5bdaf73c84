use std::process::ExitCode;

fn main() -> ExitCode {
    // Logging is installed once, by the CLI, after the configuration is
    // settled (its `log_format` and `log_filter` decide it).
    gatehouse::cli::main()
}
