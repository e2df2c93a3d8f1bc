fn main() -> std::process::ExitCode {
    surveyor_engine::cli::main()
}
