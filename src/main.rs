//! The `authgate` binary: parse the command line, run the command, print errors as one
//! clear sentence and exit non-zero. Command bodies live in the library (`authgate::cli`).

fn main() -> std::process::ExitCode {
    authgate::cli::main()
}
