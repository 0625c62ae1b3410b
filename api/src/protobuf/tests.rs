//! Unit tests on hand-built protobuf messages, plus fuzz-ish robustness checks.

use serde_json::{json, Value};

use super::decode::{decode_message, go_duration};
use super::{decode_body, message_by_name, FieldType, MessageDesc, ProtobufError, MAX_DEPTH, MESSAGES};

const CORE: &str = "k8s.io.api.core.v1.";
const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.";

fn desc(name: &str) -> &'static MessageDesc {
    message_by_name(name).unwrap_or_else(|| panic!("no message {name}"))
}

/// The field number of a JSON field of a message, from the generated table.
fn tag(message: &str, json: &str) -> u32 {
    desc(message).fields.iter().find(|f| f.json == json).unwrap_or_else(|| panic!("{message}.{json}")).tag
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn vfield(tag: u32, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(tag) << 3, &mut out);
    varint(v, &mut out);
    out
}

fn lfield(tag: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(tag) << 3 | 2, &mut out);
    varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let type_meta = [lfield(1, api_version.as_bytes()), lfield(2, kind.as_bytes())].concat();
    [b"k8s\x00".to_vec(), lfield(1, &type_meta), lfield(2, raw), lfield(3, b""), lfield(4, b"")].concat()
}

fn meta(name: &str) -> Vec<u8> {
    let m = format!("{META}ObjectMeta");
    // gogo writes every non-pointer field: empty strings, zero generation, an empty creationTimestamp.
    [
        lfield(tag(&m, "name"), name.as_bytes()),
        lfield(tag(&m, "generateName"), b""),
        lfield(tag(&m, "namespace"), b""),
        vfield(tag(&m, "generation"), 0),
        lfield(tag(&m, "creationTimestamp"), b""),
    ]
    .concat()
}

#[test]
fn table_is_consistent() {
    assert!(MESSAGES.windows(2).all(|w| w[0].name < w[1].name));
    for m in MESSAGES {
        assert!(m.fields.windows(2).all(|w| w[0].tag < w[1].tag), "{}", m.name);
        for f in m.fields {
            if let FieldType::Message(i) = f.ty {
                assert!(i < MESSAGES.len());
            }
        }
    }
    assert!(super::is_known_kind("v1", "Pod"));
    assert!(super::is_known_kind("apps/v1", "Deployment"));
    assert!(super::is_known_kind("apps/v1", "DeploymentList"));
    assert!(super::is_known_kind("authorization.k8s.io/v1", "SelfSubjectAccessReview"));
    assert!(super::is_known_kind("authentication.k8s.io/v1", "SelfSubjectReview"));
    assert!(super::is_known_kind("storage.k8s.io/v1", "CSIDriver"));
    assert!(super::is_known_kind("v1", "DeleteOptions"));
    assert!(!super::is_known_kind("v1", "Nope"));
    // JSON names that differ from naive camel-casing come from k8s-openapi.
    assert_eq!(tag(&format!("{CORE}PodStatus"), "podIPs"), 12);
}

#[test]
fn pod_with_times_ints_and_packed_lists() {
    let spec = format!("{CORE}PodSpec");
    let sc = format!("{CORE}PodSecurityContext");
    let container = format!("{CORE}Container");
    let time = [vfield(1, 1_704_164_645), vfield(2, 987_654_321)].concat();
    let metadata = [meta("p"), lfield(tag(&format!("{META}ObjectMeta"), "deletionTimestamp"), &time)].concat();
    let mut packed = Vec::new();
    for g in [1000u64, 2000] {
        varint(g, &mut packed);
    }
    let security = [lfield(tag(&sc, "supplementalGroups"), &packed), vfield(tag(&sc, "supplementalGroups"), 3000), vfield(tag(&sc, "runAsUser"), 0)].concat();
    let c = [
        lfield(tag(&container, "name"), b"c"),
        lfield(tag(&container, "image"), b"busybox"),
        vfield(tag(&container, "stdin"), 0),
        lfield(tag(&container, "terminationMessagePath"), b""),
        lfield(tag(&container, "resources"), b""),
    ]
    .concat();
    let pod_spec = [
        lfield(tag(&spec, "containers"), &c),
        lfield(tag(&spec, "securityContext"), &security),
        vfield(tag(&spec, "terminationGracePeriodSeconds"), 0),
        vfield(tag(&spec, "hostNetwork"), 0),
        vfield(tag(&spec, "activeDeadlineSeconds"), u64::MAX), // -1 as a 10-byte varint
    ]
    .concat();
    let pod = [lfield(1, &metadata), lfield(2, &pod_spec), lfield(3, b"")].concat();
    let got = decode_body(&envelope("v1", "Pod", &pod)).unwrap();
    assert_eq!(
        got,
        json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": "p", "deletionTimestamp": "2024-01-02T03:04:05Z"},
            "spec": {
                "containers": [{"name": "c", "image": "busybox", "resources": {}}],
                "securityContext": {"supplementalGroups": [1000, 2000, 3000], "runAsUser": 0},
                "terminationGracePeriodSeconds": 0,
                "activeDeadlineSeconds": -1
            },
            "status": {}
        })
    );
}

#[test]
fn inline_structs_are_flattened() {
    let vol = format!("{CORE}Volume");
    let vs = format!("{CORE}VolumeSource");
    let cmvs = format!("{CORE}ConfigMapVolumeSource");
    let probe = format!("{CORE}Probe");
    let handler = format!("{CORE}ProbeHandler");
    let http = format!("{CORE}HTTPGetAction");
    let container = format!("{CORE}Container");
    let spec = format!("{CORE}PodSpec");
    let empty_dir = lfield(tag(&vol, "volumeSource"), &lfield(tag(&vs, "emptyDir"), b""));
    let cm = [lfield(tag(&cmvs, "localObjectReference"), &lfield(1, b"cm")), vfield(tag(&cmvs, "defaultMode"), 420)].concat();
    let cm_vol = lfield(tag(&vol, "volumeSource"), &lfield(tag(&vs, "configMap"), &cm));
    let port = [vfield(1, 0), vfield(2, 8080), lfield(3, b"")].concat();
    let get = [lfield(tag(&http, "path"), b"/"), lfield(tag(&http, "port"), &port), lfield(tag(&http, "host"), b"")].concat();
    let probe_bytes = [
        lfield(tag(&probe, "handler"), &lfield(tag(&handler, "httpGet"), &get)),
        vfield(tag(&probe, "initialDelaySeconds"), 0),
        vfield(tag(&probe, "periodSeconds"), 10),
    ]
    .concat();
    let c = [lfield(tag(&container, "name"), b"c"), lfield(tag(&container, "readinessProbe"), &probe_bytes)].concat();
    let pod_spec = [
        lfield(tag(&spec, "volumes"), &[lfield(1, b"v"), empty_dir].concat()),
        lfield(tag(&spec, "volumes"), &[lfield(1, b"c"), cm_vol].concat()),
        lfield(tag(&spec, "containers"), &c),
    ]
    .concat();
    let got = decode_body(&envelope("v1", "Pod", &lfield(2, &pod_spec))).unwrap();
    assert_eq!(
        got["spec"],
        json!({
            "volumes": [
                {"name": "v", "emptyDir": {}},
                {"name": "c", "configMap": {"name": "cm", "defaultMode": 420}}
            ],
            "containers": [{
                "name": "c",
                "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 10}
            }]
        })
    );
}

#[test]
fn micro_time_and_durations() {
    let ev = "k8s.io.api.events.v1.Event";
    let t = [vfield(1, 1_704_164_645), vfield(2, 123_456_789)].concat();
    let raw = [lfield(1, &meta("e")), lfield(tag(ev, "eventTime"), &t), lfield(tag(ev, "note"), b"hi")].concat();
    let got = decode_body(&envelope("events.k8s.io/v1", "Event", &raw)).unwrap();
    assert_eq!(got["eventTime"], "2024-01-02T03:04:05.123456Z");
    assert_eq!(got["note"], "hi");
    for (ns, s) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (2_000_000, "2ms"),
        (1_000_000_000, "1s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (5_400_500_000_000, "1h30m0.5s"),
        (-1_500_000_000, "-1.5s"),
        (i64::MIN, "-2562047h47m16.854775808s"),
    ] {
        assert_eq!(go_duration(ns), s);
    }
    let d = desc(&format!("{META}Duration"));
    assert_eq!(decode_message(d, &vfield(1, 300_000_000_000), 0).unwrap(), Some(json!("5m0s")));
}

#[test]
fn maps_string_lists_and_raw_json() {
    let sar = "k8s.io.api.authorization.v1.SubjectAccessReview";
    let spec = "k8s.io.api.authorization.v1.SubjectAccessReviewSpec";
    let extra_value = [lfield(1, b"a"), lfield(1, b"b")].concat();
    let entry = [lfield(1, b"scopes"), lfield(2, &extra_value)].concat();
    let empty_entry = lfield(1, b"none");
    let spec_bytes = [lfield(tag(spec, "user"), b"alice"), lfield(tag(spec, "extra"), &entry), lfield(tag(spec, "extra"), &empty_entry)].concat();
    let status = vfield(1, 0);
    let raw = [lfield(tag(sar, "metadata"), &meta("")), lfield(tag(sar, "spec"), &spec_bytes), lfield(tag(sar, "status"), &status)].concat();
    let got = decode_body(&envelope("authorization.k8s.io/v1", "SubjectAccessReview", &raw)).unwrap();
    assert_eq!(got["spec"], json!({"user": "alice", "extra": {"scopes": ["a", "b"], "none": []}}));
    assert_eq!(got["status"], json!({"allowed": false}));

    let cr = "k8s.io.api.apps.v1.ControllerRevision";
    let raw = [lfield(1, &meta("r")), lfield(tag(cr, "data"), &lfield(1, br#"{"spec":{"a":[1,true]}}"#)), vfield(tag(cr, "revision"), 2)].concat();
    let got = decode_body(&envelope("apps/v1", "ControllerRevision", &raw)).unwrap();
    assert_eq!(got["data"], json!({"spec": {"a": [1, true]}}));
    assert_eq!(got["revision"], 2);
    let bad = [lfield(1, &meta("r")), lfield(tag(cr, "data"), &lfield(1, b"{nope"))].concat();
    assert!(matches!(decode_body(&envelope("apps/v1", "ControllerRevision", &bad)), Err(ProtobufError::InvalidJson { .. })));
}

#[test]
fn repeated_singular_messages_merge_and_unknown_fields_are_skipped() {
    let m = format!("{META}ObjectMeta");
    let raw = [lfield(1, &lfield(tag(&m, "name"), b"a")), vfield(999, 7), lfield(1, &lfield(tag(&m, "namespace"), b"ns"))].concat();
    let got = decode_body(&envelope("v1", "ConfigMap", &raw)).unwrap();
    assert_eq!(got["metadata"], json!({"name": "a", "namespace": "ns"}));
}

#[test]
fn envelope_errors() {
    assert!(matches!(decode_body(b""), Err(ProtobufError::MissingMagic)));
    assert!(matches!(decode_body(b"{\"kind\":\"Pod\"}"), Err(ProtobufError::MissingMagic)));
    assert!(matches!(decode_body(b"k8s\x00"), Err(ProtobufError::MissingTypeMeta)));
    assert!(matches!(
        decode_body(&envelope("v1", "Nope", b"")),
        Err(ProtobufError::UnknownKind { api_version, kind }) if api_version == "v1" && kind == "Nope"
    ));
    let mut gz = envelope("v1", "Pod", b"");
    gz.extend(lfield(3, b"gzip"));
    assert!(matches!(decode_body(&gz), Err(ProtobufError::UnsupportedContentEncoding(e)) if e == "gzip"));
    // A message field sent as a varint, and a string that is not UTF-8.
    assert!(matches!(decode_body(&envelope("v1", "Pod", &vfield(1, 5))), Err(ProtobufError::WireTypeMismatch { tag: 1, wire_type: 0, .. })));
    let bad_name = lfield(1, &lfield(tag(&format!("{META}ObjectMeta"), "name"), &[0xff, 0xfe]));
    assert!(matches!(decode_body(&envelope("v1", "Pod", &bad_name)), Err(ProtobufError::InvalidUtf8 { .. })));
    // An embedded JSON envelope is taken as it is.
    let mut j = [b"k8s\x00".to_vec(), lfield(1, &[lfield(1, b"v1"), lfield(2, b"Namespace")].concat())].concat();
    j.extend(lfield(2, br#"{"metadata":{"name":"x"}}"#));
    j.extend(lfield(4, b"application/json"));
    assert_eq!(decode_body(&j).unwrap(), json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "x"}}));
}

#[test]
fn deep_nesting_is_refused() {
    let props = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps";
    let not = tag(props, "not");
    let mut bytes = lfield(tag(props, "type"), b"string");
    for _ in 0..(MAX_DEPTH + 5) {
        bytes = lfield(not, &bytes);
    }
    assert!(matches!(decode_message(desc(props), &bytes, 0), Err(ProtobufError::TooDeep)));
    let mut ok = lfield(tag(props, "type"), b"string");
    for _ in 0..10 {
        ok = lfield(not, &ok);
    }
    let v = decode_message(desc(props), &ok, 0).unwrap().unwrap();
    assert_eq!(v.pointer("/not/not/not/not/not/not/not/not/not/not/type"), Some(&Value::from("string")));
}

#[test]
fn schema_unions() {
    let pfx = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.";
    let props = format!("{pfx}JSONSchemaProps");
    let string_schema = lfield(tag(&props, "type"), b"string");
    let or_bool = [vfield(1, 0)].concat();
    let or_bool_schema = [vfield(1, 1), lfield(2, &string_schema)].concat();
    let or_array = [lfield(2, &string_schema), lfield(2, &string_schema)].concat();
    let enum_json = lfield(1, b"\"a\"");
    let raw = [
        lfield(tag(&props, "type"), b"object"),
        lfield(tag(&props, "additionalProperties"), &or_bool),
        lfield(tag(&props, "items"), &or_array),
        lfield(tag(&props, "enum"), &enum_json),
        lfield(tag(&props, "default"), &lfield(1, b"{\"x\":1}")),
        lfield(tag(&props, "properties"), &[lfield(1, b"p"), lfield(2, &string_schema)].concat()),
        vfield(tag(&props, "x-kubernetes-preserve-unknown-fields"), 1),
    ]
    .concat();
    let got = decode_message(desc(&props), &raw, 0).unwrap().unwrap();
    assert_eq!(
        got,
        json!({
            "type": "object",
            "items": [{"type": "string"}, {"type": "string"}],
            "enum": ["a"],
            "default": {"x": 1},
            "additionalProperties": false,
            "properties": {"p": {"type": "string"}},
            "x-kubernetes-preserve-unknown-fields": true
        })
    );
    let got = decode_message(desc(&format!("{pfx}JSONSchemaPropsOrBool")), &or_bool_schema, 0).unwrap();
    assert_eq!(got, Some(json!({"type": "string"})));
}

/// A tiny xorshift generator, so the fuzz-ish tests are reproducible without extra crates.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x2545f4914f6cdd1d);
    let kinds = [("v1", "Pod"), ("apps/v1", "Deployment"), ("apiextensions.k8s.io/v1", "CustomResourceDefinition")];
    for round in 0..3000 {
        let len = (rng.next() % 200) as usize;
        let raw: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = decode_body(&raw);
        let mut prefixed = b"k8s\x00".to_vec();
        prefixed.extend_from_slice(&raw);
        let _ = decode_body(&prefixed);
        let (av, kind) = kinds[round % kinds.len()];
        let _ = decode_body(&envelope(av, kind, &raw));
    }
    // Structured garbage: valid keys with random values reach deeper messages.
    for _ in 0..3000 {
        let mut raw = Vec::new();
        for _ in 0..(rng.next() % 12) {
            let t = (rng.next() % 20 + 1) as u32;
            if rng.next().is_multiple_of(2) {
                raw.extend(vfield(t, rng.next()));
            } else {
                let inner: Vec<u8> = (0..rng.next() % 30).map(|_| (rng.next() % 64) as u8 + 8).collect();
                raw.extend(lfield(t, &inner));
            }
        }
        let _ = decode_body(&envelope("v1", "Pod", &raw));
        let _ = decode_body(&envelope("apps/v1", "Deployment", &raw));
    }
}
