//! `deltakube bench`: benchmarks that run the real parts in one process. `apiserver` measures
//! the store and the REST API; `churn` the controllers' dataflows; `quota` ResourceQuota
//! admission from the quota view; `scheduler` the scheduler.

mod apiserver;
mod churn;
mod churn_latency;
mod quota;
mod scheduler;

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum BenchAction {
    /// Store writes (embedded vs etcd), HTTP creates, large LISTs and watch fan-out.
    Apiserver(apiserver::ApiserverBenchFlags),
    /// The controllers' dataflow at scale: initial load, one change vs recompute, churn latency.
    Churn(churn::ChurnBenchFlags),
    /// Pod creates under a ResourceQuota in a full namespace: usage from the quota view vs summed from the cache.
    Quota(quota::QuotaBenchFlags),
    /// The scheduler end to end in one process: SchedulingBasic and variants, pods bound per second.
    Scheduler(scheduler::SchedulerBenchFlags),
}

#[derive(Args, Debug)]
pub struct BenchFlags {
    #[command(subcommand)]
    pub action: BenchAction,
}

pub async fn run(flags: BenchFlags) -> anyhow::Result<()> {
    match flags.action {
        BenchAction::Apiserver(f) => apiserver::run(f).await,
        BenchAction::Churn(f) => tokio::task::spawn_blocking(move || churn::run(f)).await?,
        BenchAction::Quota(f) => quota::run(f).await,
        BenchAction::Scheduler(f) => scheduler::run(f).await,
    }
}

/// An API server for a bench: on the embedded store at `store`, on a free loopback port,
/// never compacting.
pub fn loopback_server(data_dir: std::path::PathBuf, store: std::path::PathBuf) -> deltakube_api::apiserver::ApiServerConfig {
    deltakube_api::apiserver::ApiServerConfig {
        data_dir,
        store: deltakube_api::apiserver::StoreConfig::Embedded(store),
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        advertise: "127.0.0.1:0".into(),
        token_auth_file: None,
        compaction_interval: std::time::Duration::ZERO,
        service_ranges: Default::default(),
    }
}

/// The median of some samples (the mean of the middle two for an even count).
pub fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let n = samples.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

/// The p-th percentile (0–100) by nearest rank.
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    if samples.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

/// The CPU time (user and system) this process has used so far, from `/proc/self/stat`; a
/// bench reports the difference over its measured phase, which is steadier than the wall
/// clock on a shared machine.
pub fn process_cpu() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    parse_stat(&stat).map_or(std::time::Duration::ZERO, |(_, cpu)| cpu)
}

/// The CPU time each kind of thread has used so far, by thread name with any trailing
/// number dropped (`timely:work-0` and `timely:work-1` are `timely:work-`), from
/// `/proc/self/task/*/stat`. A thread that ended is not counted.
pub fn thread_cpu() -> std::collections::BTreeMap<String, std::time::Duration> {
    let mut by_name = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let Some((name, cpu)) = parse_stat(&stat) else {
            continue;
        };
        *by_name.entry(name.trim_end_matches(|c: char| c.is_ascii_digit()).to_string()).or_insert(std::time::Duration::ZERO) += cpu;
    }
    by_name
}

/// A `/proc/…/stat` line's command name and CPU time (utime + stime).
fn parse_stat(stat: &str) -> Option<(&str, std::time::Duration)> {
    // The command name is in parentheses and may hold spaces or parentheses itself.
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel reports in USER_HZ, 100 per second on Linux.
    Some((stat.get(open + 1..close)?, std::time::Duration::from_millis(ticks * 10)))
}

/// `after - before` per thread name, largest first, in seconds; names that spent nothing are left out.
pub fn thread_cpu_spent(
    before: &std::collections::BTreeMap<String, std::time::Duration>,
    after: &std::collections::BTreeMap<String, std::time::Duration>,
) -> Vec<(String, f64)> {
    let mut spent: Vec<(String, f64)> = after
        .iter()
        .map(|(name, t)| (name.clone(), t.saturating_sub(before.get(name).copied().unwrap_or_default()).as_secs_f64()))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    spent.sort_by(|a, b| b.1.total_cmp(&a.1));
    spent
}
