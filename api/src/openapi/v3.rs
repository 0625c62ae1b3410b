//! OpenAPI 3.0 documents, one per group version, as served under `/openapi/v3/<gv>`.
//!
//! Schemas sit in `components.schemas` under upstream's names. A reference that carries a
//! description is written as upstream does, `{"allOf": [{"$ref": …}], "description": …}`,
//! since OpenAPI 3.0 ignores siblings of `$ref`.

use serde_json::{json, Map, Value};

use super::operations::{Body, Operation, Param, PathEntry, Resp, PATCH_TYPES};
use super::schemas::{gvk_json, Catalog, PATCH, REF_PREFIX};

const V3_PREFIX: &str = "#/components/schemas/";
const MEDIA: &[&str] = &["application/json", "application/yaml"];

/// Rewrites a catalog schema into OpenAPI 3.0 form.
pub(crate) fn schema(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let reference = m.get("$ref").and_then(Value::as_str).map(v3_ref);
            let mut out = Map::new();
            match reference {
                Some(r) if m.len() > 1 => {
                    out.insert("allOf".into(), json!([{ "$ref": r }]));
                }
                Some(r) => {
                    out.insert("$ref".into(), Value::String(r));
                }
                None => {}
            }
            for (k, x) in m {
                if k == "$ref" {
                    continue;
                }
                let converted = match k.as_str() {
                    // Maps of named things: convert each member, not the map.
                    "properties" => match x {
                        Value::Object(props) => Value::Object(props.iter().map(|(n, s)| (n.clone(), schema(s))).collect()),
                        other => other.clone(),
                    },
                    "items" | "additionalProperties" | "not" | "allOf" | "anyOf" | "oneOf" => schema(x),
                    // Extensions and literals are copied as they are.
                    _ => x.clone(),
                };
                out.insert(k.clone(), converted);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(schema).collect()),
        other => other.clone(),
    }
}

fn v3_ref(r: &str) -> String {
    match r.strip_prefix(REF_PREFIX) {
        Some(name) => format!("{V3_PREFIX}{name}"),
        None => r.to_string(),
    }
}

fn ref_to(def: &str) -> Value {
    json!({ "$ref": format!("{V3_PREFIX}{def}") })
}

fn param(p: &Param) -> Value {
    let mut v = json!({
        "name": p.name,
        "in": p.location,
        "description": p.description,
        "schema": { "type": p.ty, "uniqueItems": true },
    });
    if p.required {
        v["required"] = Value::Bool(true);
    }
    v
}

fn content(schema: Value, types: &[&str]) -> Value {
    let mut m = Map::new();
    for t in types {
        m.insert((*t).to_string(), json!({ "schema": schema }));
    }
    Value::Object(m)
}

fn operation(op: &Operation) -> Value {
    let mut v = json!({
        "tags": [op.tag],
        "description": op.description,
        "operationId": op.id,
    });
    if !op.params.is_empty() {
        v["parameters"] = Value::Array(op.params.iter().map(param).collect());
    }
    match &op.body {
        Body::None => {}
        Body::Def(def) => {
            v["requestBody"] = json!({ "content": content(ref_to(def), &["*/*"]), "required": op.method != "delete" });
        }
        Body::Patch => {
            v["requestBody"] = json!({ "content": content(ref_to(PATCH), PATCH_TYPES), "required": true });
        }
    }
    let mut responses = Map::new();
    for (code, resp) in &op.responses {
        let c = match resp {
            Resp::Def(def) => content(ref_to(def), MEDIA),
            Resp::Text => content(json!({ "type": "string" }), &["*/*"]),
        };
        let description = match code {
            201 => "Created",
            202 => "Accepted",
            _ => "OK",
        };
        responses.insert(code.to_string(), json!({ "description": description, "content": c }));
    }
    responses.insert("401".into(), json!({ "description": "Unauthorized" }));
    v["responses"] = Value::Object(responses);
    v["x-kubernetes-action"] = Value::String(op.action.to_string());
    v["x-kubernetes-group-version-kind"] = gvk_json(&op.gvk);
    v
}

/// The definitions an operation names directly.
pub(crate) fn op_defs(op: &Operation) -> Vec<&str> {
    let mut out = Vec::new();
    match &op.body {
        Body::Def(d) => out.push(d.as_str()),
        Body::Patch => out.push(PATCH),
        Body::None => {}
    }
    for (_, r) in &op.responses {
        if let Resp::Def(d) = r {
            out.push(d.as_str());
        }
    }
    out
}

/// The OpenAPI 3.0 document of one group version.
pub(crate) fn document(paths: &[PathEntry], roots: &[String], catalog: &Catalog) -> Value {
    let mut p = Map::new();
    let mut wanted: Vec<&str> = roots.iter().map(String::as_str).collect();
    for entry in paths {
        let mut item = Map::new();
        for op in &entry.ops {
            wanted.extend(op_defs(op));
            item.insert(op.method.to_string(), operation(op));
        }
        item.insert("parameters".into(), Value::Array(entry.params.iter().map(param).collect()));
        p.insert(entry.path.clone(), Value::Object(item));
    }
    let mut schemas = Map::new();
    for name in catalog.closure(wanted) {
        schemas.insert(name.clone(), schema(&catalog.defs[&name]));
    }
    json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": super::INFO_VERSION },
        "paths": p,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                },
            },
        },
        "security": [{ "BearerToken": [] }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_references_become_all_of() {
        let s = json!({
            "type": "object",
            "properties": {
                "metadata": { "description": "meta", "$ref": "#/definitions/io.k8s.X" },
                "items": { "type": "array", "items": { "$ref": "#/definitions/io.k8s.Y" } },
            },
        });
        let v = schema(&s);
        assert_eq!(v["properties"]["metadata"]["allOf"][0]["$ref"], "#/components/schemas/io.k8s.X");
        assert_eq!(v["properties"]["metadata"]["description"], "meta");
        assert_eq!(v["properties"]["items"]["items"]["$ref"], "#/components/schemas/io.k8s.Y");
    }
}
