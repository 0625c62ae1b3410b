//! Crash safety: `kill -9` of the server during 16 concurrent writers loses no acknowledged
//! write, and a watch resumed from resourceVersion R after a restart misses no event and
//! repeats none.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Backend, Cluster};

/// POSTs configmaps in a loop until the server dies; returns the names it acknowledged.
fn writer(url: String, pems: (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf), id: usize, acked: Arc<Mutex<BTreeSet<String>>>) {
    let (ca, cert, key) = pems;
    for i in 0.. {
        let name = format!("w{id}-{i}");
        let body = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"i":"{i}"}}}}"#);
        let out = std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--cacert"])
            .arg(&ca)
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .args(["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", &body, &url])
            .output()
            .unwrap();
        match String::from_utf8_lossy(&out.stdout).as_ref() {
            "201" => {
                acked.lock().unwrap().insert(name);
            }
            _ => return,
        }
    }
}

#[test]
fn kill_9_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(Backend::Embedded);
    let url = format!("{}/api/v1/namespaces/default/configmaps", cluster.url());
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let writers: Vec<_> = (0..16)
        .map(|id| {
            let (url, pems, acked) = (url.clone(), cluster.admin_pems(), acked.clone());
            std::thread::spawn(move || writer(url, pems, id, acked))
        })
        .collect();
    let start = Instant::now();
    while acked.lock().unwrap().len() < 300 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    cluster.kill();
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300, "writers acknowledged only {} writes", acked.len());
    cluster.launch();
    let out = cluster.curl(&[&url]);
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stored: BTreeSet<String> = list["items"].as_array().unwrap().iter().map(|o| o["metadata"]["name"].as_str().unwrap().to_string()).collect();
    let lost: Vec<_> = acked.difference(&stored).collect();
    assert!(lost.is_empty(), "{} acknowledged writes lost after kill -9, e.g. {:?}", lost.len(), &lost[..lost.len().min(5)]);
}

/// Reads a watch stream for `duration` and returns its events as (type, name, rv).
fn read_watch(cluster: &Cluster, query: &str, duration: Duration) -> Vec<(String, String, u64)> {
    let url = format!("{}/api/v1/namespaces/default/configmaps?watch=true&{query}", cluster.url());
    let out = cluster.curl(&["--max-time", &duration.as_secs().to_string(), &url]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let e: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("bad watch line {l:?}: {e}"));
            let rv = e["object"]["metadata"]["resourceVersion"].as_str().unwrap_or("0").parse().unwrap();
            (e["type"].as_str().unwrap().to_string(), e["object"]["metadata"]["name"].as_str().unwrap_or("").to_string(), rv)
        })
        .collect()
}

#[test]
fn watch_resumed_after_restart_misses_nothing_and_repeats_nothing() {
    let mut cluster = Cluster::start(Backend::Embedded);
    let url = format!("{}/api/v1/namespaces/default/configmaps", cluster.url());
    let create = |cluster: &Cluster, name: &str| {
        let body = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}}}}"#);
        let out = cluster.curl(&["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", &body, &url]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["metadata"]["resourceVersion"].as_str().unwrap().parse::<u64>().unwrap()
    };
    let r = create(&cluster, "before");
    let mut expected = HashMap::new();
    for i in 0..5 {
        let rv = create(&cluster, &format!("a{i}"));
        expected.insert(rv, format!("a{i}"));
    }
    let out = cluster.curl(&["-X", "DELETE", &format!("{url}/a0")]);
    assert!(out.status.success());
    cluster.kill();
    cluster.launch();
    for i in 0..3 {
        let rv = create(&cluster, &format!("b{i}"));
        expected.insert(rv, format!("b{i}"));
    }
    let events = read_watch(&cluster, &format!("resourceVersion={r}"), Duration::from_secs(3));
    let revisions: Vec<u64> = events.iter().map(|e| e.2).collect();
    let unique: BTreeSet<u64> = revisions.iter().copied().collect();
    assert_eq!(unique.len(), revisions.len(), "a revision was repeated: {events:?}");
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "events out of order: {events:?}");
    for (rv, name) in &expected {
        assert!(events.iter().any(|(t, n, r)| r == rv && n == name && t == "ADDED"), "missing ADDED {name}@{rv} in {events:?}");
    }
    assert!(events.iter().any(|(t, n, _)| t == "DELETED" && n == "a0"), "missing the delete: {events:?}");
    assert!(!events.iter().any(|(_, n, _)| n == "before"), "replayed an event at or before R: {events:?}");
}
