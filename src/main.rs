//! The deltakube command line: `up` runs the whole cluster, `apiserver` the API server alone.

mod bench;
mod cli;
mod client;
mod controllers;
mod heap;

use clap::Parser;

/// mimalloc, counting the bytes in use ([`heap`]).
#[global_allocator]
static ALLOCATOR: heap::CountingMiMalloc = heap::CountingMiMalloc;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let command = cli::Command::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(cli::run(command))
}
