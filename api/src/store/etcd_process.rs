//! Starts a private etcd server on loopback, for tests and benchmarks that compare backends.
//!
//! The server gets its own data folder and free ports, and is killed when the handle drops.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Errors starting etcd.
#[derive(Debug, thiserror::Error)]
pub enum EtcdProcessError {
    /// No `etcd` binary on PATH; the test command installs Debian's `etcd-server`.
    #[error("no etcd binary on PATH: install it with `apt-get install -y etcd-server` (the README's test command does)")]
    Missing,
    /// etcd started but never answered on its client port.
    #[error("etcd did not become ready within {0:?}; see {1}")]
    NotReady(Duration, PathBuf),
    #[error("starting etcd: {0}")]
    Io(#[from] std::io::Error),
}

/// A running etcd; killed on drop.
pub struct EtcdProcess {
    child: Child,
    /// The client URL, e.g. `http://127.0.0.1:23790`.
    pub endpoint: String,
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl EtcdProcess {
    /// Starts etcd with its data under `dir` and waits until it accepts connections.
    pub fn start(dir: &Path) -> Result<EtcdProcess, EtcdProcessError> {
        let binary = which("etcd").ok_or(EtcdProcessError::Missing)?;
        let client = free_port()?;
        let peer = free_port()?;
        let endpoint = format!("http://127.0.0.1:{client}");
        let log_path = dir.join("etcd.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(binary)
            .arg("--data-dir")
            .arg(dir.join("etcd-data"))
            .args(["--name", "deltakube-test"])
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
            .arg(format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"))
            .arg(format!("--initial-cluster=deltakube-test=http://127.0.0.1:{peer}"))
            .args(["--max-request-bytes", "10485760", "--quota-backend-bytes", "8589934592"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut process = EtcdProcess { child, endpoint };
        let deadline = Duration::from_secs(20);
        let start = Instant::now();
        while start.elapsed() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", client)).is_ok() {
                return Ok(process);
            }
            if let Ok(Some(_)) = process.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = process.child.kill();
        Err(EtcdProcessError::NotReady(deadline, log_path))
    }
}

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|p| p.join(name)).find(|p| p.is_file())
}
