//! The deltakube command line: `up` runs the whole cluster, `apiserver` the API server alone.

mod bench;
mod cli;
mod client;
mod controllers;

use clap::Parser;

/// mimalloc instead of glibc's malloc: the dataflows allocate and free many small rows per
/// revision, which glibc's allocator serves several times slower (its consolidation showed as
/// a third of the time under churn) and returns to the system less readily. Built with
/// `no_thp`: otherwise it asks for transparent huge pages on its arenas, and each first touch
/// of a fresh (or purged) allocator page faults in and zeroes a whole 2 MiB page — a sixth of
/// the scheduler bench's time and a third of the churn bench's system time (BENCHMARKS.md).
/// Unlike `MIMALLOC_ALLOW_THP=0`, this does not turn THP off for child processes.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let command = cli::Command::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(cli::run(command))
}
