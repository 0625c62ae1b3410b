//! Build script: generates `$OUT_DIR/protobuf_descriptors.rs`, the message descriptor table that
//! `src/protobuf` uses to turn `application/vnd.kubernetes.protobuf` request bodies into JSON.
//!
//! No `.proto` files are available offline, so the schema is read from the sources of two crates
//! that cargo has already extracted into its registry:
//! - `k8s-pb` (a build-dependency): prost structs generated from the upstream `generated.proto`
//!   files. Each field carries `#[prost(TYPE, LABEL, tag = "N")]`, which gives the wire schema.
//! - `k8s-openapi` (a normal dependency, feature `v1_33`): one file per type whose serde code maps
//!   JSON names to Rust field names (`"podIPs" => Field::Key_pod_ips`), whose field types tell
//!   required (`T`) from optional (`Option<T>`), and whose `Resource` impls give apiVersion/kind.
//!
//! Both crates derive Rust field names from the same JSON names, so they line up per type (up to
//! underscores: k8s-pb's `non_resource_ur_ls` is k8s-openapi's `non_resource_urls`).
//! A third input, `src/protobuf/go_fields.txt` (derived from the upstream Go types by
//! `gen_go_fields.py`), tells per message what neither crate can: the fields whose zero value the
//! JSON encoding still writes (Go pointers, fields without `omitempty`), the embedded
//! `json:",inline"` structs whose fields are flattened into the parent, and acronym JSON names.
//! For messages it does not list, k8s-openapi's required fields are the ones kept when zero, and a
//! message field that k8s-openapi lacks but whose fields it has is taken as inline.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const K8S_PB_DIR: &str = "k8s-pb-0.9.0";
const K8S_OPENAPI_PREFIX: &str = "k8s-openapi-0.29.";
const K8S_OPENAPI_FEATURE_DIR: &str = "v1_33";
const GO_FIELDS_FILE: &str = "src/protobuf/go_fields.txt";

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={GO_FIELDS_FILE}");
    println!("cargo:rerun-if-env-changed=CARGO_HOME");

    let registries = registry_src_dirs();
    let pb_root = find_crate(&registries, |name| name == K8S_PB_DIR).unwrap_or_else(|| {
        fail(&format!(
            "could not find the extracted sources of `{K8S_PB_DIR}` under {registries:?}; \
             it is a build-dependency, so `cargo fetch` should have extracted it"
        ))
    });
    let openapi_root = find_crate(&registries, |name| name.starts_with(K8S_OPENAPI_PREFIX))
        .unwrap_or_else(|| fail(&format!("could not find the extracted sources of `{K8S_OPENAPI_PREFIX}*` under {registries:?}")));

    let pb = parse_k8s_pb(&pb_root.join("src"));
    let openapi = parse_k8s_openapi(&openapi_root.join("src").join(K8S_OPENAPI_FEATURE_DIR));
    let go_text = std::fs::read_to_string(manifest_dir.join(GO_FIELDS_FILE)).unwrap_or_else(|e| fail(&format!("cannot read {GO_FIELDS_FILE}: {e}")));
    let go = parse_go_fields(&go_text);

    // Catch a format change in either crate early, instead of generating an empty table.
    let has = |module: &str, name: &str| pb.messages.iter().any(|m| m.module.join("/") == module && m.name == name && !m.fields.is_empty());
    if pb.messages.len() < 1000 || !has("api/core/v1", "Pod") || !has("api/apps/v1", "DeploymentSpec") {
        fail(&format!("parsed only {} messages from {}", pb.messages.len(), pb_root.display()));
    }
    if openapi.types.len() < 500 || openapi.kinds.len() < 50 {
        fail(&format!("parsed only {} types from {}", openapi.types.len(), openapi_root.display()));
    }

    let (code, report) = generate(&pb, &openapi, &go);
    std::fs::write(out_dir.join("protobuf_descriptors.rs"), code).unwrap();
    std::fs::write(out_dir.join("protobuf_descriptors_report.txt"), report).unwrap();
}

fn fail(msg: &str) -> ! {
    panic!("deltakube-api build script (protobuf descriptors): {msg}");
}

/// `$CARGO_HOME/registry/src/*` (and `$HOME/.cargo/registry/src/*`).
fn registry_src_dirs() -> Vec<PathBuf> {
    let mut homes = Vec::new();
    if let Some(h) = std::env::var_os("CARGO_HOME") {
        homes.push(PathBuf::from(h));
    }
    if let Some(h) = std::env::var_os("HOME") {
        homes.push(PathBuf::from(h).join(".cargo"));
    }
    let mut dirs = Vec::new();
    for home in homes {
        let src = home.join("registry").join("src");
        if let Ok(entries) = std::fs::read_dir(&src) {
            for e in entries.flatten() {
                if e.path().is_dir() && !dirs.contains(&e.path()) {
                    dirs.push(e.path());
                }
            }
        }
    }
    dirs
}

/// The matching crate directory with the highest version (so `0.29.10` wins over `0.29.9`).
fn find_crate(registries: &[PathBuf], matches: impl Fn(&str) -> bool) -> Option<PathBuf> {
    let mut found: Vec<(Vec<u64>, PathBuf)> = Vec::new();
    for reg in registries {
        if let Ok(entries) = std::fs::read_dir(reg) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if matches(&name) && e.path().join("src").is_dir() {
                    // `k8s-openapi-0.29.0` -> [0, 29, 0]
                    let version = name.rsplit('-').next().unwrap_or("");
                    let key = version.split('.').map(|p| p.parse().unwrap_or(0)).collect();
                    found.push((key, e.path()));
                }
            }
        }
    }
    found.sort();
    found.pop().map(|(_, p)| p)
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.parent().unwrap().strip_prefix(root).unwrap();
    rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect()
}

/// Rust field names of the two crates agree up to underscores (`non_resource_ur_ls` in k8s-pb is
/// `non_resource_urls` in k8s-openapi), so they are compared lowercased without underscores.
fn norm(rust_name: &str) -> String {
    rust_name.chars().filter(|&c| c != '_').flat_map(char::to_lowercase).collect()
}

fn strip_raw(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

// ---------------------------------------------------------------------------------------------
// k8s-pb

#[derive(Debug, Clone)]
enum PbType {
    Scalar(&'static str),
    /// Resolved module path + Rust type name.
    Message(Vec<String>, String),
}

#[derive(Debug)]
struct PbField {
    rust_name: String,
    tag: u32,
    ty: PbType,
    /// "single", "repeated" or "map:<key scalar>".
    card: String,
}

#[derive(Debug)]
struct PbMessage {
    module: Vec<String>,
    name: String,
    fields: Vec<PbField>,
}

struct PbSchema {
    messages: Vec<PbMessage>,
    /// (apiVersion, kind, module, rust type name) from `impl crate::Resource`.
    kinds: Vec<(String, String, Vec<String>, String)>,
}

fn scalar_name(s: &str) -> Option<&'static str> {
    Some(match s {
        "string" => "String",
        "bytes" => "Bytes",
        "bool" => "Bool",
        "int32" => "Int32",
        "int64" => "Int64",
        "uint32" => "Uint32",
        "uint64" => "Uint64",
        "sint32" => "Sint32",
        "sint64" => "Sint64",
        "double" => "Double",
        "float" => "Float",
        "fixed32" => "Fixed32",
        "fixed64" => "Fixed64",
        "sfixed32" => "Sfixed32",
        "sfixed64" => "Sfixed64",
        _ => return None,
    })
}

/// Splits `string, optional, tag = "1"` at commas outside quotes.
fn split_attr(attr: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in attr.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => {
                parts.push(cur.trim().to_string());
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        parts.push(cur.trim().to_string());
    }
    parts
}

fn unquote(s: &str) -> &str {
    s.trim().trim_matches('"')
}

/// The message type path of a field's Rust type: the last path that is not a std/prost wrapper.
fn message_path(ty: &str, module: &[String]) -> Option<(Vec<String>, String)> {
    let mut last = None;
    for seg in ty.split(|c: char| c == '<' || c == '>' || c == ',' || c.is_whitespace()) {
        if seg.is_empty() || seg.starts_with("::") {
            continue;
        }
        last = Some(seg);
    }
    let path = last?;
    let mut parts: Vec<&str> = path.split("::").collect();
    let name = parts.pop()?.to_string();
    let mut m = module.to_vec();
    for p in parts {
        match p {
            "super" => {
                m.pop();
            }
            "crate" => m.clear(),
            "self" => {}
            other => m.push(other.to_string()),
        }
    }
    Some((m, name))
}

fn parse_k8s_pb(src: &Path) -> PbSchema {
    let mut files = Vec::new();
    rs_files(src, &mut files);
    let mut messages = Vec::new();
    let mut kinds = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let module = module_of(src, &file);
        let lines: Vec<&str> = text.lines().collect();
        let mut current: Option<PbMessage> = None;
        let mut resource: Option<(String, Option<String>, Option<String>)> = None;
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            let t = line.trim();
            let is_message = i > 0 && lines[i - 1].contains("::prost::Message");
            if let (Some(rest), true) = (line.strip_prefix("pub struct "), is_message) {
                if let Some(name) = rest.strip_suffix("{}") {
                    // An empty message on one line.
                    let name = name.trim().to_string();
                    messages.push(PbMessage { module: module.clone(), name, fields: Vec::new() });
                } else {
                    let name = rest.trim_end_matches('{').trim().to_string();
                    current = Some(PbMessage { module: module.clone(), name, fields: Vec::new() });
                }
            } else if line == "}" {
                if let Some(m) = current.take() {
                    messages.push(m);
                }
                if let Some((ty, Some(av), Some(kind))) = resource.take() {
                    kinds.push((av, kind, module.clone(), ty));
                }
            } else if let Some(rest) = line.strip_prefix("impl crate::Resource for ") {
                let ty = rest.trim_end_matches('{').trim().to_string();
                resource = Some((ty, None, None));
            } else if t.starts_with("const API_VERSION") || t.starts_with("const KIND") {
                if let Some(r) = resource.as_mut() {
                    let v = t.split('=').nth(1).map(|v| unquote(v.trim_end_matches(';')).to_string());
                    if t.starts_with("const KIND") {
                        r.2 = v;
                    } else {
                        r.1 = v;
                    }
                }
            } else if let (Some(attr), Some(msg)) = (t.strip_prefix("#[prost("), current.as_mut()) {
                let attr = attr.strip_suffix(")]").unwrap_or_else(|| fail(&format!("{}: multi-line prost attribute: {t}", file.display())));
                // Gather the `pub name: Type,` declaration, which may span lines.
                let mut decl = String::new();
                let mut j = i + 1;
                loop {
                    let l = lines.get(j).unwrap_or_else(|| fail("unterminated field"));
                    decl.push_str(l.trim());
                    decl.push(' ');
                    let depth = decl.matches('<').count() as i64 - decl.matches('>').count() as i64;
                    if depth == 0 && decl.trim_end().ends_with(',') {
                        break;
                    }
                    j += 1;
                }
                i = j;
                let decl = decl.trim().trim_end_matches(',');
                let decl = decl.strip_prefix("pub ").unwrap_or_else(|| fail(&format!("unexpected field declaration {decl}")));
                let (fname, fty) = decl.split_once(':').unwrap();
                let parts = split_attr(attr);
                let mut tag = None;
                let mut card = "single".to_string();
                let mut ty = None;
                for p in &parts {
                    if let Some(v) = p.strip_prefix("tag =") {
                        tag = Some(unquote(v).parse::<u32>().unwrap());
                    } else if p == "repeated" {
                        card = "repeated".into();
                    } else if p == "optional" || p == "required" || p == "boxed" || p.starts_with("packed") {
                    } else if let Some(v) = p.strip_prefix("btree_map =").or(p.strip_prefix("map =")) {
                        let kv = unquote(v);
                        let (k, v) = kv.split_once(',').unwrap();
                        let key = scalar_name(k.trim()).unwrap_or_else(|| fail(&format!("unsupported map key {k}")));
                        card = format!("map:{key}");
                        ty = Some(match scalar_name(v.trim()) {
                            Some(s) => PbType::Scalar(s),
                            None if v.trim() == "message" => {
                                let (m, n) = message_path(fty, &module).unwrap();
                                PbType::Message(m, n)
                            }
                            None => fail(&format!("unsupported map value {v}")),
                        });
                    } else if p == "message" {
                        let (m, n) = message_path(fty, &module).unwrap_or_else(|| fail(&format!("no message type in {fty}")));
                        ty = Some(PbType::Message(m, n));
                    } else {
                        let word = p.split('=').next().unwrap().trim();
                        match scalar_name(word) {
                            Some(s) => ty = Some(PbType::Scalar(s)),
                            None => fail(&format!("{}: unsupported prost attribute part `{p}` in `{attr}`", file.display())),
                        }
                    }
                }
                msg.fields.push(PbField {
                    rust_name: strip_raw(fname.trim()).to_string(),
                    tag: tag.unwrap_or_else(|| fail(&format!("no tag in {attr}"))),
                    ty: ty.unwrap_or_else(|| fail(&format!("no type in {attr}"))),
                    card,
                });
            }
            i += 1;
        }
    }
    PbSchema { messages, kinds }
}

// ---------------------------------------------------------------------------------------------
// k8s-openapi

#[derive(Default, Debug)]
struct OaType {
    name: String,
    /// normalised rust field name (see [`norm`]) -> optional (`Option<..>`)
    optional: HashMap<String, bool>,
    /// normalised rust field name -> JSON name
    json: HashMap<String, String>,
}

struct OaSchema {
    /// (module, lowercase type name) -> type
    types: HashMap<(Vec<String>, String), OaType>,
    /// (apiVersion, kind, module, type name)
    kinds: Vec<(String, String, Vec<String>, String)>,
}

fn parse_k8s_openapi(root: &Path) -> OaSchema {
    if !root.is_dir() {
        fail(&format!("{} is missing (k8s-openapi feature {K8S_OPENAPI_FEATURE_DIR}?)", root.display()));
    }
    let mut files = Vec::new();
    rs_files(root, &mut files);
    let mut types = HashMap::new();
    let mut kinds = Vec::new();
    for file in files {
        if file.file_name().is_some_and(|n| n == "mod.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let module = module_of(root, &file);
        let mut ty = OaType::default();
        let mut in_struct = false;
        let mut api_version = None;
        let mut kind = None;
        for line in text.lines() {
            let t = line.trim();
            if let Some(rest) = line.strip_prefix("pub struct ") {
                if ty.name.is_empty() && !rest.contains('<') {
                    ty.name = rest.trim_end_matches('{').trim().to_string();
                    in_struct = true;
                }
            } else if in_struct && line == "}" {
                in_struct = false;
            } else if in_struct {
                if let Some(rest) = line.strip_prefix("    pub ") {
                    if let Some((n, t)) = rest.split_once(':') {
                        ty.optional.insert(norm(strip_raw(n.trim())), t.trim().starts_with("Option<"));
                    }
                }
            } else if t.starts_with('"') && t.contains("\" => Field::Key_") {
                let (json, rest) = t[1..].split_once("\" => Field::Key_").unwrap();
                let rust = rest.trim_end_matches(',').trim();
                ty.json.insert(norm(rust), json.to_string());
            } else if t.starts_with("const API_VERSION: &'static str = ") {
                api_version = t.split('=').nth(1).map(|v| unquote(v.trim_end_matches(';')).to_string());
            } else if t.starts_with("const KIND: &'static str = ") {
                kind = t.split('=').nth(1).map(|v| unquote(v.trim_end_matches(';')).to_string());
            }
        }
        if ty.name.is_empty() {
            continue;
        }
        if let (Some(av), Some(k)) = (api_version, kind) {
            kinds.push((av, k, module.clone(), ty.name.clone()));
        }
        types.insert((module, ty.name.to_lowercase()), ty);
    }
    OaSchema { types, kinds }
}

// ---------------------------------------------------------------------------------------------
// go_fields.txt

/// What the Go types say about one message.
#[derive(Default)]
struct GoMessage {
    /// JSON names of fields whose zero value is written.
    keep: BTreeSet<String>,
    /// Field numbers of `json:",inline"` embedded structs.
    inline: BTreeSet<u32>,
    /// Field number -> JSON name, for names with acronyms or punctuation.
    json: HashMap<u32, String>,
}

/// Upstream full message name -> what the Go types say about it.
fn parse_go_fields(text: &str) -> HashMap<String, GoMessage> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, tokens) = line.split_once(':').unwrap_or_else(|| fail(&format!("bad line `{line}`")));
        let mut msg = GoMessage::default();
        for token in tokens.split_whitespace() {
            let number = |s: &str| s.parse::<u32>().unwrap_or_else(|_| fail(&format!("bad token `{token}`")));
            if let Some(tag) = token.strip_prefix('^') {
                msg.inline.insert(number(tag));
            } else if let Some((tag, json)) = token.split_once('=').filter(|(t, _)| t.bytes().all(|b| b.is_ascii_digit())) {
                msg.json.insert(number(tag), json.to_string());
            } else {
                msg.keep.insert(token.to_string());
            }
        }
        out.insert(name.trim().to_string(), msg);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// generation

fn lower_camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn special_of(full: &str, msg: &PbMessage) -> &'static str {
    const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.";
    const APIEXT: &str = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.";
    let short = full.rsplit('.').next().unwrap();
    if full == format!("{META}Time") {
        return "Time";
    }
    if full == format!("{META}MicroTime") {
        return "MicroTime";
    }
    if full == format!("{META}Duration") {
        return "Duration";
    }
    if full == format!("{META}FieldsV1") || full == "k8s.io.apimachinery.pkg.runtime.RawExtension" {
        return "RawJson";
    }
    if full.starts_with("k8s.io.apimachinery.pkg.api.resource.") && (short == "Quantity" || short == "QuantityValue") {
        return "Quantity";
    }
    if full == "k8s.io.apimachinery.pkg.util.intstr.IntOrString" {
        return "IntOrString";
    }
    if full.starts_with(APIEXT) {
        match short.to_ascii_uppercase().as_str() {
            "JSON" => return "RawJson",
            "JSONSCHEMAPROPSORARRAY" => return "SchemaOrArray",
            "JSONSCHEMAPROPSORBOOL" => return "SchemaOrBool",
            "JSONSCHEMAPROPSORSTRINGARRAY" => return "SchemaOrStringArray",
            _ => {}
        }
    }
    // `message Verbs { repeated string items = 1; }`, `ExtraValue`, ...: serialised as a JSON array.
    if let [f] = msg.fields.as_slice() {
        if f.rust_name == "items" && f.tag == 1 && f.card == "repeated" && matches!(f.ty, PbType::Scalar("String")) {
            return "StringList";
        }
    }
    "None"
}

/// The generated code, and a report of fields whose JSON name or zero handling was guessed.
fn generate(pb: &PbSchema, oa: &OaSchema, go: &HashMap<String, GoMessage>) -> (String, String) {
    // Upstream message names, by (module, lowercase name), from k8s-openapi and go_fields.txt.
    let mut original: HashMap<(Vec<String>, String), String> = HashMap::new();
    for ((module, lower), ty) in &oa.types {
        original.insert((module.clone(), lower.clone()), ty.name.clone());
    }
    let package = |module: &[String]| format!("k8s.io.{}", module.join("."));
    let mut by_package_lower: HashMap<(String, String), String> = HashMap::new();
    for full in go.keys() {
        let (pkg, name) = full.rsplit_once('.').unwrap();
        by_package_lower.insert((pkg.to_string(), name.to_lowercase()), name.to_string());
    }
    // Any module's spelling, for types that only exist in other versions (`v1beta1.JSONSchemaProps`).
    let mut any_lower: HashMap<String, String> = HashMap::new();
    for name in original.values().chain(by_package_lower.values()) {
        any_lower.entry(name.to_lowercase()).or_insert_with(|| name.clone());
    }
    let full_name = |module: &[String], rust: &str| -> String {
        let lower = rust.to_lowercase();
        let pkg = package(module);
        let name = original
            .get(&(module.to_vec(), lower.clone()))
            .or_else(|| by_package_lower.get(&(pkg.clone(), lower.clone())))
            .or_else(|| any_lower.get(&lower))
            .cloned()
            // prost spells the JSON acronym `Json`; upstream names always say `JSON`.
            .unwrap_or_else(|| match rust.strip_prefix("Json") {
                Some(rest) => format!("JSON{rest}"),
                None => rust.to_string(),
            });
        format!("{pkg}.{name}")
    };
    // Rust field name -> JSON name over all k8s-openapi types, where unambiguous: the fallback for
    // types k8s-openapi lacks (beta versions), before plain lowerCamelCase.
    let mut global_json: HashMap<String, Option<String>> = HashMap::new();
    for ty in oa.types.values() {
        for (rust, json) in &ty.json {
            global_json
                .entry(rust.clone()) // already normalised
                .and_modify(|e| {
                    if e.as_deref() != Some(json.as_str()) {
                        *e = None;
                    }
                })
                .or_insert_with(|| Some(json.clone()));
        }
    }

    // Sorted message list; index by (module, rust name).
    let mut named: Vec<(String, &PbMessage)> = pb.messages.iter().map(|m| (full_name(&m.module, &m.name), m)).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    for w in named.windows(2) {
        if w[0].0 == w[1].0 {
            fail(&format!("duplicate message name {}", w[0].0));
        }
    }
    let index: HashMap<(Vec<String>, String), usize> = named.iter().enumerate().map(|(i, (_, m))| ((m.module.clone(), m.name.clone()), i)).collect();
    let lookup = |module: &[String], name: &str| -> usize {
        *index.get(&(module.to_vec(), name.to_string())).unwrap_or_else(|| fail(&format!("unresolved message {}::{name}", module.join("::"))))
    };

    let mut code = String::new();
    let mut report = String::new();
    writeln!(code, "// @generated by build.rs from k8s-pb, k8s-openapi and go_fields.txt. Do not edit.").unwrap();
    writeln!(code, "pub(crate) static MESSAGES: &[MessageDesc] = &[").unwrap();
    for (full, msg) in &named {
        let oa_ty = oa.types.get(&(msg.module.clone(), msg.name.to_lowercase()));
        let go_msg = go.get(full);
        let special = special_of(full, msg);
        writeln!(code, "    MessageDesc {{ name: {full:?}, special: Special::{special}, fields: &[").unwrap();
        let mut fields: Vec<&PbField> = msg.fields.iter().collect();
        fields.sort_by_key(|f| f.tag);
        for f in fields {
            let json = match (full.as_str(), f.rust_name.as_str()) {
                (n, "ref") if n.ends_with(".JSONSchemaProps") => "$ref".to_string(),
                (n, "schema") if n.ends_with(".JSONSchemaProps") => "$schema".to_string(),
                _ => go_msg
                    .and_then(|g| g.json.get(&f.tag).cloned())
                    .or_else(|| oa_ty.and_then(|t| t.json.get(&norm(&f.rust_name)).cloned()))
                    .or_else(|| global_json.get(&norm(&f.rust_name)).cloned().flatten())
                    .unwrap_or_else(|| lower_camel(&f.rust_name)),
            };
            let optional = oa_ty.and_then(|t| t.optional.get(&norm(&f.rust_name)).copied()).unwrap_or(true);
            let inline = match go_msg {
                Some(g) => g.inline.contains(&f.tag),
                None => match (&f.ty, oa_ty) {
                    // Not in k8s-openapi, but all its fields are in the parent: flattened.
                    (PbType::Message(m, n), Some(t)) if f.card == "single" && !t.json.contains_key(&norm(&f.rust_name)) => pb
                        .messages
                        .iter()
                        .find(|x| &x.module == m && &x.name == n)
                        .is_some_and(|inner| !inner.fields.is_empty() && inner.fields.iter().all(|x| t.json.contains_key(&norm(&x.rust_name)))),
                    _ => false,
                },
            };
            if oa_ty.is_some_and(|t| !t.json.contains_key(&norm(&f.rust_name))) && !inline {
                writeln!(report, "{full}.{}: not in k8s-openapi, JSON name {json:?}", f.rust_name).unwrap();
            }
            let keep = match go_msg {
                Some(g) => g.keep.contains(&json),
                None => !optional,
            };
            let ty = match &f.ty {
                PbType::Scalar(s) => format!("FieldType::Scalar(Scalar::{s})"),
                PbType::Message(m, n) => format!("FieldType::Message({})", lookup(m, n)),
            };
            let card = match f.card.as_str() {
                "single" => "Cardinality::Single".to_string(),
                "repeated" => "Cardinality::Repeated".to_string(),
                m => format!("Cardinality::Map(Scalar::{})", &m[4..]),
            };
            writeln!(
                code,
                "        FieldDesc {{ tag: {}, json: {json:?}, ty: {ty}, card: {card}, optional: {optional}, keep_zero: {keep}, inline: {inline} }},",
                f.tag
            )
            .unwrap();
        }
        writeln!(code, "    ] }},").unwrap();
    }
    writeln!(code, "];").unwrap();

    // Top-level kinds: Resource impls of both crates, plus `<Kind>List` messages next to them.
    let mut kinds: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut add_kind = |av: &str, kind: &str, module: &[String], ty: &str| {
        if let Some(&i) = index.get(&(module.to_vec(), ty.to_string())) {
            kinds.entry((av.to_string(), kind.to_string())).or_insert(i);
        } else if let Some(i) = named.iter().position(|(_, m)| m.module == module && m.name.eq_ignore_ascii_case(ty)) {
            kinds.entry((av.to_string(), kind.to_string())).or_insert(i);
        }
    };
    let mut api_versions: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    for (av, kind, module, ty) in oa.kinds.iter().chain(pb.kinds.iter()) {
        add_kind(av, kind, module, ty);
        add_kind(av, &format!("{kind}List"), module, &format!("{ty}List"));
        api_versions.entry(module.clone()).or_default().insert(av.clone());
    }
    // Any other message of a served group version with `ObjectMeta`/`ListMeta metadata = 1` is an
    // object too (kinds that only exist in versions newer or older than k8s-openapi's).
    let meta = ["apimachinery", "pkg", "apis", "meta", "v1"].map(String::from).to_vec();
    for msg in &pb.messages {
        let Some(avs) = api_versions.get(&msg.module) else {
            continue;
        };
        let has_meta = msg
            .fields
            .iter()
            .any(|f| f.tag == 1 && f.rust_name == "metadata" && matches!(&f.ty, PbType::Message(m, n) if *m == meta && (n == "ObjectMeta" || n == "ListMeta")));
        if has_meta {
            let kind = full_name(&msg.module, &msg.name).rsplit('.').next().unwrap().to_string();
            for av in avs {
                add_kind(av, &kind, &msg.module, &msg.name);
            }
        }
    }
    writeln!(code, "pub(crate) static KINDS: &[(&str, &str, usize)] = &[").unwrap();
    for ((av, kind), i) in &kinds {
        writeln!(code, "    ({av:?}, {kind:?}, {i}),").unwrap();
    }
    writeln!(code, "];").unwrap();
    (code, report)
}
