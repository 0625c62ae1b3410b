//! Shared harness of the black-box tests: starts the real `deltakube` binary on a free port
//! (on the embedded store or on a real etcd started here), and runs the real kubectl
//! binaries against it, each test with its own HOME so that discovery caches never mix.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use deltakube_api::store::etcd_process::EtcdProcess;

/// The kubectl minors every acceptance test runs with.
pub const KUBECTL_VERSIONS: &[&str] = &["1.27", "1.30", "1.33"];

/// Path of a kubectl of minor `version`; fails clearly if the machine lacks it.
pub fn kubectl_path(version: &str) -> PathBuf {
    let path = PathBuf::from(format!("/usr/lib/google-cloud-sdk/bin/kubectl.{version}"));
    assert!(path.exists(), "kubectl {version} is required at {} (see DESIGN.md §10)", path.display());
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the `deltakube` binary with `args`, its output appended to `log`.
fn spawn_logged(args: &[String], log: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_deltakube"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start deltakube")
}

/// Waits up to 30 s until `port` accepts connections and `ready` holds.
fn wait_for_port(port: u16, ready: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Which store a test cluster runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Etcd,
}

/// A running `deltakube up`, killed on drop.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub kubeconfig: PathBuf,
    child: Option<Child>,
    etcd: Option<EtcdProcess>,
    extra_args: Vec<String>,
    /// `up` (with the controllers) or `apiserver` (without).
    subcommand: &'static str,
}

impl Cluster {
    pub fn start(backend: Backend) -> Cluster {
        Cluster::start_with(backend, &[])
    }

    pub fn start_with(backend: Backend, extra: &[&str]) -> Cluster {
        Cluster::start_as("up", backend, extra)
    }

    /// `deltakube apiserver` alone: controllers, if any, run as their own processes.
    pub fn start_apiserver(backend: Backend) -> Cluster {
        Cluster::start_as("apiserver", backend, &[])
    }

    fn start_as(subcommand: &'static str, backend: Backend, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let etcd = match backend {
            Backend::Embedded => None,
            Backend::Etcd => Some(EtcdProcess::start(dir.path()).expect("a real etcd: the README's test command installs etcd-server")),
        };
        let mut extra_args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        if let Some(e) = &etcd {
            extra_args.push(format!("--etcd-servers={}", e.endpoint));
        }
        let port = free_port();
        let kubeconfig = dir.path().join("data/admin.kubeconfig");
        let mut cluster = Cluster { dir, port, kubeconfig, child: None, etcd, extra_args, subcommand };
        cluster.launch();
        cluster
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the server process and waits until it answers.
    pub fn launch(&mut self) {
        let mut args: Vec<String> = vec![self.subcommand.into(), "--data-dir".into(), self.data_dir().display().to_string()];
        args.extend(["--secure-port".into(), self.port.to_string()]);
        args.extend(self.extra_args.iter().cloned());
        self.child = Some(spawn_logged(&args, &self.dir.path().join("server.log")));
        let kubeconfig = self.kubeconfig.clone();
        if !wait_for_port(self.port, || kubeconfig.exists()) {
            panic!("deltakube did not start; log:\n{}", self.log());
        }
    }

    /// `kill -9` of the server.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn etcd_endpoint(&self) -> Option<&str> {
        self.etcd.as_ref().map(|e| e.endpoint.as_str())
    }

    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// A kubectl of `version` with its own HOME under this cluster's folder.
    pub fn kubectl(&self, version: &str) -> Kubectl {
        let home = self.dir.path().join(format!("home-{version}"));
        std::fs::create_dir_all(&home).unwrap();
        Kubectl { binary: kubectl_path(version), kubeconfig: self.kubeconfig.clone(), home, version: version.to_string() }
    }

    /// Client certificate and key files of the admin, for curl.
    pub fn admin_pems(&self) -> (PathBuf, PathBuf, PathBuf) {
        let pki = self.data_dir().join("pki");
        (pki.join("ca.crt"), pki.join("admin.crt"), pki.join("admin.key"))
    }

    /// curl with the admin's client certificate.
    pub fn curl(&self, args: &[&str]) -> Output {
        let (ca, cert, key) = self.admin_pems();
        Command::new("curl").args(["-sS", "--cacert"]).arg(ca).arg("--cert").arg(cert).arg("--key").arg(key).args(args).output().expect("curl is installed")
    }
}

/// A `deltakube controllers --kubeconfig` process against a cluster, killed on drop.
pub struct Controllers {
    child: Option<Child>,
    log: PathBuf,
    args: Vec<String>,
    /// Where its `/views` and `/metrics` are served.
    pub views_port: u16,
}

impl Controllers {
    /// Starts controllers for `cluster` with `extra` flags; `name` tells its log apart.
    pub fn start(cluster: &Cluster, name: &str, extra: &[&str]) -> Controllers {
        Controllers::start_as(cluster, name, &cluster.kubeconfig, extra)
    }

    /// As [`Controllers::start`], with the credentials of another `kubeconfig`.
    pub fn start_as(cluster: &Cluster, name: &str, kubeconfig: &std::path::Path, extra: &[&str]) -> Controllers {
        let views_port = free_port();
        let mut args: Vec<String> = vec![
            "controllers".into(),
            "--kubeconfig".into(),
            kubeconfig.display().to_string(),
            "--service-account-private-key-file".into(),
            cluster.data_dir().join("pki/sa.key").display().to_string(),
            "--views-address".into(),
            format!("127.0.0.1:{views_port}"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut c = Controllers { child: None, log: cluster.dir.path().join(format!("{name}.log")), args, views_port };
        c.launch();
        c
    }

    /// Starts the process (again) and waits until its views answer.
    pub fn launch(&mut self) {
        self.child = Some(spawn_logged(&self.args, &self.log));
        if !wait_for_port(self.views_port, || true) {
            panic!("deltakube controllers did not start; log:\n{}", self.log());
        }
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The sum of a Prometheus counter over its labels, from this process's `/metrics`.
    pub fn counter(&self, name: &str) -> f64 {
        let out = Command::new("curl").args(["-sS", &format!("http://127.0.0.1:{}/metrics", self.views_port)]).output().expect("curl is installed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with(name) && (l[name.len()..].starts_with('{') || l[name.len()..].starts_with(' ')))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Controllers {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One kubectl binary, bound to a cluster.
pub struct Kubectl {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
    pub home: PathBuf,
    pub version: String,
}

/// What a command printed.
#[derive(Debug)]
pub struct Ran {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Kubectl {
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.env("KUBECONFIG", &self.kubeconfig).env("HOME", &self.home).env_remove("KUBECTL_EXTERNAL_DIFF");
        c
    }

    pub fn run(&self, args: &[&str]) -> Ran {
        self.run_with_stdin(args, None)
    }

    pub fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Ran {
        use std::io::Write;
        let mut c = self.command();
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        c.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = c.spawn().expect("run kubectl");
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Ran { ok: out.status.success(), stdout: String::from_utf8_lossy(&out.stdout).into_owned(), stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
    }

    /// Runs and asserts success, returning stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(r.ok, "kubectl {} {:?} failed:\nstdout: {}\nstderr: {}", self.version, args, r.stdout, r.stderr);
        r.stdout
    }

    #[track_caller]
    pub fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        let r = self.run_with_stdin(args, Some(stdin));
        assert!(r.ok, "kubectl {} {:?} failed:\nstdout: {}\nstderr: {}", self.version, args, r.stdout, r.stderr);
        r.stdout
    }

    /// Runs and asserts failure, returning stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(!r.ok, "kubectl {} {:?} should fail but printed: {}", self.version, args, r.stdout);
        r.stderr
    }
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}
