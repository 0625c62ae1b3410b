//! Real protobuf request bodies captured from kubectl 1.33 (`tests/fixtures/protobuf/*.pb`; kubectl
//! 1.32 sends byte-identical bodies) decode to the JSON that kubectl 1.31 sent for the same command
//! (`*.json`, which equals 1.33's `--dry-run=client -o json` output; for `autoscale`, where 1.31
//! still used autoscaling/v1, the 1.33 dry-run output is the expectation). The bodies were caught
//! by a loopback HTTP proxy that forwarded discovery to a real deltakube and saved each POST body.
//!
//! Normalisation: `null` members of the expected JSON are dropped before comparing, since the
//! decoder leaves out what the JSON encoding writes as `null` (`creationTimestamp: null`, nil
//! non-omitempty lists such as `resourceRules: null`, nil pointers such as `boundObjectRef: null`).
//! Everything else, empty objects like `status: {}` and `resources: {}` included, must match.

use std::path::Path;

use deltakube_api::protobuf::{decode_body, ProtobufError};
use serde_json::{json, Value};

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/protobuf")
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn load(name: &str) -> (Vec<u8>, Value) {
    let dir = fixtures();
    let pb = std::fs::read(dir.join(format!("{name}.pb"))).unwrap();
    let mut expected: Value = serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
    drop_nulls(&mut expected);
    (pb, expected)
}

fn check(name: &str) -> Value {
    let (pb, expected) = load(name);
    let got = decode_body(&pb).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got, expected, "{name}:\n got: {}\nwant: {}", serde_json::to_string(&got).unwrap(), serde_json::to_string(&expected).unwrap());
    got
}

#[test]
fn every_fixture_decodes_to_its_json() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "pb").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    assert!(names.len() >= 25, "fixtures missing: {names:?}");
    for name in &names {
        check(name);
    }
}

#[test]
fn kind_and_api_version_come_first() {
    let got = check("namespace");
    let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
    assert_eq!(keys[..2], ["kind", "apiVersion"]);
    assert_eq!(got["metadata"]["name"], "pbns");
}

#[test]
fn explicit_zero_replicas_survives() {
    let got = check("deployment_replicas0");
    assert_eq!(got["spec"]["replicas"], json!(0));
    // Non-pointer omitempty zeros (minReadySeconds, status counters, paused) are gone.
    assert!(got["spec"].get("minReadySeconds").is_none());
    assert!(got["spec"].get("paused").is_none());
    assert_eq!(got["status"], json!({}));
    assert!(got["metadata"].get("creationTimestamp").is_none());
    let got = check("deployment_replicas3_port");
    assert_eq!(got["spec"]["replicas"], json!(3));
    assert_eq!(got["spec"]["template"]["spec"]["containers"][0]["ports"], json!([{"containerPort": 8080}]));
}

#[test]
fn secret_bytes_are_base64_and_empty_values_stay() {
    let got = check("secret_generic");
    assert_eq!(got["data"], json!({"user": "YWRtaW4=", "empty": ""}));
    assert_eq!(got["type"], "Opaque");
    let got = check("configmap");
    assert_eq!(got["data"]["b"], "");
}

#[test]
fn int_or_string_and_quantities() {
    assert_eq!(check("pdb_min_available")["spec"]["minAvailable"], json!(1));
    assert_eq!(check("pdb_max_unavailable")["spec"]["maxUnavailable"], json!("50%"));
    let svc = check("service_clusterip");
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], json!(8080));
    assert_eq!(svc["spec"]["ports"][0]["port"], json!(80));
    assert_eq!(check("service_nodeport")["spec"]["ports"][0]["targetPort"], json!("http"));
    let quota = check("quota");
    assert_eq!(quota["spec"]["hard"], json!({"cpu": "1", "memory": "1Gi", "pods": "2"}));
}

#[test]
fn reviews_keep_required_zero_values() {
    let got = check("can_i");
    assert_eq!(got["kind"], "SelfSubjectAccessReview");
    assert_eq!(got["status"], json!({"allowed": false}));
    let got = check("can_i_list");
    assert_eq!(got["status"], json!({"incomplete": false}));
    let got = check("whoami");
    assert_eq!(got["status"], json!({"userInfo": {}}));
    let got = check("token");
    assert_eq!(got["spec"]["expirationSeconds"], json!(3600));
    assert_eq!(got["status"], json!({"token": ""}));
}

#[test]
fn truncated_and_corrupted_fixtures_fail_cleanly() {
    let (pb, _) = load("deployment_replicas3_port");
    for len in 0..pb.len() {
        // Any prefix either decodes (a cut on a field boundary) or gives an error; never a panic.
        let _ = decode_body(&pb[..len]);
    }
    assert!(matches!(decode_body(&pb[..3]), Err(ProtobufError::MissingMagic)));
    assert!(decode_body(&pb[..pb.len() - 1]).is_err());
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..2000 {
        let mut bytes = pb.clone();
        for _ in 0..3 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = 4 + (seed as usize) % (bytes.len() - 4);
            bytes[i] = (seed >> 32) as u8;
        }
        let _ = decode_body(&bytes);
    }
}
