//! How a controller process (`deltakube controllers`, `deltakube scheduler`) makes its views
//! reachable through the API server: it adds the address it serves them at to the Endpoints
//! object `kube-system/deltakube-views`, as one subset whose address carries the process's
//! name as `hostname`, and the API server forwards `/views` there
//! ([`deltakube_api::views_proxy`]). The entry is renewed every 30 s with the time in an
//! annotation (the API server leaves out entries not renewed for 90 s: a process killed for
//! good), re-created if the object went away, and withdrawn at shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use deltakube_api::views_proxy::{NAME, NAMESPACE, PORT_NAME, RENEWED_ANNOTATION_PREFIX};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use crate::client::ApiClient;

/// How often the entry is re-asserted.
const REASSERT_EVERY: Duration = Duration::from_secs(30);
/// Conflicting writes (another process registering at the same moment) retried this often.
const ATTEMPTS: usize = 10;

fn path() -> String {
    format!("/api/v1/namespaces/{NAMESPACE}/endpoints/{NAME}")
}

/// The address others reach `bound` at: loopback for an unspecified bind address.
pub fn advertised(bound: SocketAddr) -> SocketAddr {
    if bound.ip().is_unspecified() {
        let loopback = if bound.is_ipv4() { std::net::Ipv4Addr::LOCALHOST.into() } else { std::net::Ipv6Addr::LOCALHOST.into() };
        SocketAddr::new(loopback, bound.port())
    } else {
        bound
    }
}

/// `endpoints` with `process`'s entry set to `address`, renewed at `now` (or removed, for
/// `None`); whether that changed anything.
pub fn with_entry(endpoints: &mut Value, process: &str, address: Option<SocketAddr>, now: jiff::Timestamp) -> bool {
    let renewed = format!("{RENEWED_ANNOTATION_PREFIX}{process}");
    let annotations_before = endpoints["metadata"]["annotations"].clone();
    let mut annotations = annotations_before.as_object().cloned().unwrap_or_default();
    match address {
        Some(_) => annotations.insert(renewed, Value::String(now.to_string())),
        None => annotations.remove(&renewed),
    };
    if annotations.is_empty() {
        if let Some(metadata) = endpoints["metadata"].as_object_mut() {
            metadata.remove("annotations");
        }
    } else {
        endpoints["metadata"]["annotations"] = Value::Object(annotations);
    }
    let before = endpoints["subsets"].clone();
    let mut subsets: Vec<Value> = before.as_array().cloned().unwrap_or_default();
    subsets.retain(|s| !s["addresses"].as_array().into_iter().flatten().any(|a| a["hostname"] == process));
    if let Some(address) = address {
        subsets.push(json!({
            "addresses": [{"ip": address.ip().to_string(), "hostname": process}],
            "ports": [{"name": PORT_NAME, "port": address.port(), "protocol": "TCP"}],
        }));
    }
    subsets.sort_by(|a, b| a["addresses"][0]["hostname"].as_str().cmp(&b["addresses"][0]["hostname"].as_str()));
    // An empty list is left out, as upstream's `omitempty` leaves it out.
    let after = if subsets.is_empty() { Value::Null } else { Value::Array(subsets) };
    match endpoints.as_object_mut() {
        Some(fields) if after.is_null() => drop(fields.remove("subsets")),
        _ => endpoints["subsets"] = after.clone(),
    }
    after != before || endpoints["metadata"]["annotations"] != annotations_before
}

/// Sets (or, with `None`, withdraws) `process`'s entry, retrying conflicts.
pub async fn set(client: &ApiClient, process: &str, address: Option<SocketAddr>) -> anyhow::Result<()> {
    for _ in 0..ATTEMPTS {
        let (status, body) = client.send(Method::GET, &path(), None).await?;
        let (method, target, mut endpoints) = match status {
            StatusCode::OK => (Method::PUT, path(), serde_json::from_slice::<Value>(&body).context("reading the views' Endpoints")?),
            StatusCode::NOT_FOUND if address.is_none() => return Ok(()),
            StatusCode::NOT_FOUND => (
                Method::POST,
                format!("/api/v1/namespaces/{NAMESPACE}/endpoints"),
                json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": NAME, "namespace": NAMESPACE}}),
            ),
            other => anyhow::bail!("reading endpoints {NAMESPACE}/{NAME}: {other}: {}", String::from_utf8_lossy(&body)),
        };
        if !with_entry(&mut endpoints, process, address, jiff::Timestamp::now()) && method == Method::PUT {
            return Ok(());
        }
        let (status, body) = client.send(method, &target, Some(endpoints.to_string().into())).await?;
        match status {
            s if s.is_success() => return Ok(()),
            StatusCode::CONFLICT => continue,
            other => anyhow::bail!("writing endpoints {NAMESPACE}/{NAME}: {other}: {}", String::from_utf8_lossy(&body)),
        }
    }
    anyhow::bail!("endpoints {NAMESPACE}/{NAME} kept changing under {ATTEMPTS} attempts to register {process}")
}

/// Registers `process`'s views at `address` now and every [`REASSERT_EVERY`] after; failures
/// are logged and retried at the next turn. Abort the task before withdrawing the entry.
pub fn keep_registered(client: ApiClient, process: String, address: SocketAddr) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(REASSERT_EVERY);
        loop {
            ticker.tick().await;
            if let Err(e) = set(&client, &process, Some(address)).await {
                tracing::warn!(error = %format!("{e:#}"), "registering the views with the API server");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_process_has_one_entry_in_name_order() {
        let mut endpoints = json!({"metadata": {"name": NAME}});
        let t0: jiff::Timestamp = "2026-11-30T12:00:00Z".parse().unwrap();
        let t1: jiff::Timestamp = "2026-11-30T12:00:30Z".parse().unwrap();
        assert!(with_entry(&mut endpoints, "scheduler", Some("127.0.0.1:4001".parse().unwrap()), t0));
        assert!(with_entry(&mut endpoints, "controllers-0", Some("127.0.0.1:4000".parse().unwrap()), t0));
        assert!(!with_entry(&mut endpoints, "controllers-0", Some("127.0.0.1:4000".parse().unwrap()), t0), "already there");
        assert!(with_entry(&mut endpoints, "controllers-0", Some("127.0.0.1:4000".parse().unwrap()), t1), "renewed");
        assert_eq!(endpoints["metadata"]["annotations"]["deltakube.io/views-renewed-controllers-0"], "2026-11-30T12:00:30Z");
        assert!(with_entry(&mut endpoints, "controllers-0", Some("127.0.0.1:4002".parse().unwrap()), t1), "moved");
        let backends = deltakube_api::views_proxy::backends(&endpoints, t1);
        let got: Vec<(&str, &str)> = backends.iter().map(|b| (b.name.as_str(), b.address.as_str())).collect();
        assert_eq!(got, [("controllers-0", "127.0.0.1:4002"), ("scheduler", "127.0.0.1:4001")]);
        assert!(with_entry(&mut endpoints, "scheduler", None, t1));
        assert!(!with_entry(&mut endpoints, "scheduler", None, t1));
        assert_eq!(deltakube_api::views_proxy::backends(&endpoints, t1).len(), 1);
        assert!(with_entry(&mut endpoints, "controllers-0", None, t1));
        assert_eq!(endpoints, json!({"metadata": {"name": NAME}}), "nothing is left behind");
    }

    #[test]
    fn an_unspecified_bind_address_is_reached_on_loopback() {
        assert_eq!(advertised("0.0.0.0:80".parse().unwrap()), "127.0.0.1:80".parse().unwrap());
        assert_eq!(advertised("[::]:80".parse().unwrap()), "[::1]:80".parse().unwrap());
        assert_eq!(advertised("127.0.0.2:80".parse().unwrap()), "127.0.0.2:80".parse().unwrap());
    }
}
