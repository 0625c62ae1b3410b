//! The OpenAPI documents the apiserver publishes, and the unknown-field check behind
//! `fieldValidation=Strict|Warn`.
//!
//! Everything is built once at startup from the served kinds and the schemas of their
//! `k8s-openapi` types:
//!
//! - `GET /openapi/v2`: Swagger 2.0, as JSON ([`OpenApiDocs::v2_json`], `Content-Type:
//!   application/json`) or, for `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`,
//!   as gnostic protobuf ([`OpenApiDocs::v2_protobuf`], `Content-Type:
//!   application/com.github.proto-openapi.spec.v2.v1.0+protobuf`). kubectl 1.27/1.28 fetch the
//!   latter before validating.
//! - `GET /openapi/v3`: the index ([`OpenApiDocs::v3_index`]) naming one document per group
//!   version, at `/openapi/v3/<gv>?hash=<hash>`.
//! - `GET /openapi/v3/<gv>`: that document ([`OpenApiDocs::v3_document`]). When the request's
//!   `hash` matches, it may be cached for good (`Cache-Control: public, immutable`, `ETag`
//!   the hash); without it, `Cache-Control: no-cache, private` with the same `ETag`.

mod operations;
mod schemas;
mod unknown_fields;
mod v2;
mod v2_proto;
mod v3;

pub use schemas::check_types;

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{json, Map, Value};

use schemas::{gvk, Catalog};

/// The `info.version` of every document.
const INFO_VERSION: &str = "v1.33.0";

/// One served kind: the subset of the resource table the documents need.
#[derive(Debug, Clone)]
pub struct ServedKind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    /// `(name, kind)`, e.g. `("scale", "Scale")`; the kind's group is inferred (the parent's
    /// own kind, else the kind of that name in the parent's group, core, or any group).
    pub subresources: Vec<(&'static str /*name*/, &'static str /*kind, e.g. Scale*/)>,
}

/// The documents, built once at startup.
pub struct OpenApiDocs {
    catalog: Catalog,
    v2_json: Bytes,
    v2_protobuf: Bytes,
    v3_index: Bytes,
    /// `api/v1` → (hash, document).
    v3: HashMap<String, (String, Bytes)>,
}

impl std::fmt::Debug for OpenApiDocs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenApiDocs")
            .field("definitions", &self.catalog.defs.len())
            .field("v2_json_bytes", &self.v2_json.len())
            .field("v3_documents", &self.v3.len())
            .finish()
    }
}

/// FNV-1a over 128 bits, as uppercase hex: a stable content hash for cache URLs.
fn content_hash(data: &[u8]) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for byte in data {
        h ^= u128::from(*byte);
        h = h.wrapping_mul(PRIME);
    }
    format!("{h:032X}")
}

impl OpenApiDocs {
    pub fn build(kinds: &[ServedKind]) -> OpenApiDocs {
        let catalog = Catalog::build(kinds);
        let all: Vec<&ServedKind> = kinds.iter().collect();
        let v2_doc = v2::document(&operations::paths(&all, &catalog), &catalog);
        let v2_json = Bytes::from(serde_json::to_vec(&v2_doc).expect("JSON values serialize"));
        let v2_protobuf = Bytes::from(v2::encode_protobuf(&v2_doc));
        drop(v2_doc);

        let mut gvs: Vec<(&str, &str)> = Vec::new();
        for k in kinds {
            if !gvs.contains(&(k.group, k.version)) {
                gvs.push((k.group, k.version));
            }
        }
        let mut v3 = HashMap::new();
        let mut index = Map::new();
        for (group, version) in gvs {
            let members: Vec<&ServedKind> = kinds.iter().filter(|k| k.group == group && k.version == version).collect();
            let mut roots = Vec::new();
            for k in &members {
                for kind in [k.kind.to_string(), format!("{}List", k.kind)] {
                    if let Some(def) = catalog.def_for(&gvk(group, version, &kind)) {
                        roots.push(def.to_string());
                    }
                }
            }
            let paths = operations::paths(&members, &catalog);
            let doc = v3::document(&paths, &roots, &catalog);
            let body = serde_json::to_vec(&doc).expect("JSON values serialize");
            let hash = content_hash(&body);
            let key = operations::gv_prefix(group, version).trim_start_matches('/').to_string();
            index.insert(key.clone(), json!({ "serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}") }));
            v3.insert(key, (hash, Bytes::from(body)));
        }
        let v3_index = Bytes::from(serde_json::to_vec(&json!({ "paths": Value::Object(index) })).expect("JSON"));
        OpenApiDocs { catalog, v2_json, v2_protobuf, v3_index, v3 }
    }

    /// The Swagger 2.0 document as JSON.
    pub fn v2_json(&self) -> Bytes {
        self.v2_json.clone()
    }

    /// The Swagger 2.0 document as a gnostic `openapi.v2.Document` protobuf.
    pub fn v2_protobuf(&self) -> Bytes {
        self.v2_protobuf.clone()
    }

    /// The `/openapi/v3` index: `{"paths":{"api/v1":{"serverRelativeURL":…},…}}`.
    pub fn v3_index(&self) -> Bytes {
        self.v3_index.clone()
    }

    /// The document of one group version (`api/v1`, `apis/apps/v1`; a leading `/` is
    /// ignored) with its hash, which is the one in the index's URL.
    pub fn v3_document(&self, path: &str) -> Option<(String, Bytes)> {
        self.v3.get(path.trim_start_matches('/')).map(|(h, b)| (h.clone(), b.clone()))
    }

    /// Names of fields in `object` that the kind's schema does not know, as upstream words them
    /// inside `unknown field "…"`: `spec.limits[0].defaulyRequest` (no leading dot), in document
    /// order. Empty for unknown kinds.
    pub fn unknown_fields(&self, group: &str, version: &str, kind: &str, object: &serde_json::Value) -> Vec<String> {
        match self.catalog.def_for(&gvk(group, version, kind)) {
            Some(def) => unknown_fields::find(&self.catalog.defs, def, object),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
