//! The lotline binary: the web server and the command line, one executable.

fn main() -> std::process::ExitCode {
    lotline::cli::main()
}
