//! `surveyor`: the command line ([`cli`]) over the scanner core
//! (`surveyor-engine`) and the service (`surveyor-service`).

mod cli;
mod doctor;

/// The host does many small allocations per file (lifted schemas, assets);
/// mimalloc serves them faster than the system allocator.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
