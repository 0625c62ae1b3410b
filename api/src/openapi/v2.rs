//! The Swagger 2.0 document served at `/openapi/v2` as JSON, and the source of its protobuf
//! form.
//!
//! kubectl 1.27 and 1.28 load it (as protobuf) before every create, apply and replace: they
//! map kinds to definitions by the definitions' `x-kubernetes-group-version-kind` list, look
//! for a `fieldValidation` query parameter on the kind's PATCH operation, and read the
//! operation's `consumes` to pick a patch type.

use prost::Message;
use serde_json::{json, Map, Value};

use super::operations::{Body, Operation, Param, PathEntry, Resp, PATCH_TYPES};
use super::schemas::{gvk_json, Catalog, PATCH, REF_PREFIX};
use super::v2_proto as pb;

const PRODUCES: &[&str] = &["application/json", "application/yaml"];

fn ref_to(def: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{def}") })
}

fn param(p: &Param) -> Value {
    let mut v = json!({
        "uniqueItems": true,
        "type": p.ty,
        "description": p.description,
        "name": p.name,
        "in": p.location,
    });
    if p.required {
        v["required"] = Value::Bool(true);
    }
    v
}

fn operation(op: &Operation) -> Value {
    let consumes: Vec<&str> = match op.body {
        Body::Patch => PATCH_TYPES.to_vec(),
        _ => vec!["*/*"],
    };
    let produces: Vec<&str> = if op.responses.iter().any(|(_, r)| matches!(r, Resp::Text)) { vec!["*/*"] } else { PRODUCES.to_vec() };
    let mut params: Vec<Value> = Vec::new();
    match &op.body {
        Body::None => {}
        Body::Def(def) => {
            params.push(json!({ "name": "body", "in": "body", "required": op.method != "delete", "schema": ref_to(def) }));
        }
        Body::Patch => {
            params.push(json!({ "name": "body", "in": "body", "required": true, "schema": ref_to(PATCH) }));
        }
    }
    params.extend(op.params.iter().map(param));
    let mut responses = Map::new();
    for (code, resp) in &op.responses {
        let schema = match resp {
            Resp::Def(def) => ref_to(def),
            Resp::Text => json!({ "type": "string" }),
        };
        let description = match code {
            201 => "Created",
            202 => "Accepted",
            _ => "OK",
        };
        responses.insert(code.to_string(), json!({ "description": description, "schema": schema }));
    }
    responses.insert("401".into(), json!({ "description": "Unauthorized" }));
    let mut v = json!({
        "description": op.description,
        "consumes": consumes,
        "produces": produces,
        "schemes": ["https"],
        "tags": [op.tag],
        "operationId": op.id,
    });
    if !params.is_empty() {
        v["parameters"] = Value::Array(params);
    }
    v["responses"] = Value::Object(responses);
    v["x-kubernetes-action"] = Value::String(op.action.to_string());
    v["x-kubernetes-group-version-kind"] = gvk_json(&op.gvk);
    v
}

/// The whole Swagger 2.0 document.
pub(crate) fn document(paths: &[PathEntry], catalog: &Catalog) -> Value {
    let mut p = Map::new();
    for entry in paths {
        let mut item = Map::new();
        for op in &entry.ops {
            item.insert(op.method.to_string(), operation(op));
        }
        item.insert("parameters".into(), Value::Array(entry.params.iter().map(param).collect()));
        p.insert(entry.path.clone(), Value::Object(item));
    }
    json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": super::INFO_VERSION },
        "paths": p,
        "definitions": catalog.defs,
        "securityDefinitions": {
            "BearerToken": {
                "type": "apiKey",
                "description": "Bearer Token authentication",
                "name": "authorization",
                "in": "header",
            },
        },
        "security": [{ "BearerToken": [] }],
    })
}

// ---- The protobuf form: JSON → gnostic messages ----

fn s(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default()
}

fn b(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn any(v: &Value) -> pb::Any {
    pb::Any { yaml: v.to_string() }
}

fn extensions(v: &Value) -> Vec<pb::NamedAny> {
    v.as_object().into_iter().flatten().filter(|(k, _)| k.starts_with("x-")).map(|(k, x)| pb::NamedAny { name: k.clone(), value: Some(any(x)) }).collect()
}

/// Converts one JSON schema.
pub(crate) fn proto_schema(v: &Value) -> pb::Schema {
    let f = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let i = |k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let r#type = match v.get("type") {
        Some(Value::String(t)) => Some(pb::TypeItem { value: vec![t.clone()] }),
        Some(Value::Array(_)) => Some(pb::TypeItem { value: strings(v, "type") }),
        _ => None,
    };
    let items = match v.get("items") {
        Some(Value::Array(a)) => Some(pb::ItemsItem { schema: a.iter().map(proto_schema).collect() }),
        Some(x @ Value::Object(_)) => Some(pb::ItemsItem { schema: vec![proto_schema(x)] }),
        _ => None,
    };
    let additional_properties = match v.get("additionalProperties") {
        Some(Value::Bool(x)) => Some(pb::AdditionalPropertiesOneof::Boolean(*x)),
        Some(x @ Value::Object(_)) => Some(pb::AdditionalPropertiesOneof::Schema(proto_schema(x))),
        _ => None,
    }
    .map(|o| Box::new(pb::AdditionalPropertiesItem { oneof: Some(o) }));
    let properties = v
        .get("properties")
        .and_then(Value::as_object)
        .map(|m| pb::Properties { additional_properties: m.iter().map(|(n, x)| pb::NamedSchema { name: n.clone(), value: Some(proto_schema(x)) }).collect() });
    pb::Schema {
        r#ref: s(v, "$ref"),
        format: s(v, "format"),
        title: s(v, "title"),
        description: s(v, "description"),
        default: v.get("default").map(any),
        maximum: f("maximum"),
        minimum: f("minimum"),
        max_length: i("maxLength"),
        min_length: i("minLength"),
        pattern: s(v, "pattern"),
        max_items: i("maxItems"),
        min_items: i("minItems"),
        unique_items: b(v, "uniqueItems"),
        required: strings(v, "required"),
        r#enum: v.get("enum").and_then(Value::as_array).map(|a| a.iter().map(any).collect()).unwrap_or_default(),
        additional_properties,
        r#type,
        items,
        all_of: v.get("allOf").and_then(Value::as_array).map(|a| a.iter().map(proto_schema).collect()).unwrap_or_default(),
        properties,
        read_only: b(v, "readOnly"),
        example: v.get("example").map(any),
        vendor_extension: extensions(v),
    }
}

fn proto_parameter(v: &Value) -> pb::ParametersItem {
    let oneof = if v.get("$ref").is_some() {
        pb::ParametersItemOneof::JsonReference(pb::JsonReference { r#ref: s(v, "$ref"), description: s(v, "description") })
    } else {
        let p = match v.get("in").and_then(Value::as_str) {
            Some("body") => pb::ParameterOneof::BodyParameter(pb::BodyParameter {
                description: s(v, "description"),
                name: s(v, "name"),
                r#in: "body".into(),
                required: b(v, "required"),
                schema: v.get("schema").map(proto_schema),
            }),
            Some("path") => pb::ParameterOneof::NonBodyParameter(pb::NonBodyParameter {
                oneof: Some(pb::NonBodyOneof::PathParameterSubSchema(pb::PathParameterSubSchema {
                    required: b(v, "required"),
                    r#in: "path".into(),
                    description: s(v, "description"),
                    name: s(v, "name"),
                    r#type: s(v, "type"),
                    unique_items: b(v, "uniqueItems"),
                })),
            }),
            _ => pb::ParameterOneof::NonBodyParameter(pb::NonBodyParameter {
                oneof: Some(pb::NonBodyOneof::QueryParameterSubSchema(pb::QueryParameterSubSchema {
                    required: b(v, "required"),
                    r#in: "query".into(),
                    description: s(v, "description"),
                    name: s(v, "name"),
                    r#type: s(v, "type"),
                    unique_items: b(v, "uniqueItems"),
                })),
            }),
        };
        pb::ParametersItemOneof::Parameter(pb::Parameter { oneof: Some(p) })
    };
    pb::ParametersItem { oneof: Some(oneof) }
}

fn parameters(v: &Value) -> Vec<pb::ParametersItem> {
    v.get("parameters").and_then(Value::as_array).map(|a| a.iter().map(proto_parameter).collect()).unwrap_or_default()
}

fn proto_operation(v: Option<&Value>) -> Option<pb::Operation> {
    let v = v?;
    let responses = v.get("responses").and_then(Value::as_object).map(|m| pb::Responses {
        response_code: m
            .iter()
            .map(|(code, r)| pb::NamedResponseValue {
                name: code.clone(),
                value: Some(pb::ResponseValue {
                    oneof: Some(pb::ResponseValueOneof::Response(pb::Response {
                        description: s(r, "description"),
                        schema: r.get("schema").map(|x| pb::SchemaItem { oneof: Some(pb::SchemaItemOneof::Schema(proto_schema(x))) }),
                    })),
                }),
            })
            .collect(),
    });
    Some(pb::Operation {
        tags: strings(v, "tags"),
        description: s(v, "description"),
        operation_id: s(v, "operationId"),
        produces: strings(v, "produces"),
        consumes: strings(v, "consumes"),
        parameters: parameters(v),
        responses,
        schemes: strings(v, "schemes"),
        vendor_extension: extensions(v),
    })
}

/// Converts the Swagger 2.0 JSON document.
pub(crate) fn proto_document(v: &Value) -> pb::Document {
    let paths = v.get("paths").and_then(Value::as_object).map(|m| pb::Paths {
        vendor_extension: Vec::new(),
        path: m
            .iter()
            .map(|(name, item)| pb::NamedPathItem {
                name: name.clone(),
                value: Some(pb::PathItem {
                    get: proto_operation(item.get("get")),
                    put: proto_operation(item.get("put")),
                    post: proto_operation(item.get("post")),
                    delete: proto_operation(item.get("delete")),
                    patch: proto_operation(item.get("patch")),
                    parameters: parameters(item),
                }),
            })
            .collect(),
    });
    let named_schemas = |key: &str| {
        v.get(key)
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(n, x)| pb::NamedSchema { name: n.clone(), value: Some(proto_schema(x)) }).collect::<Vec<_>>())
    };
    let security_definitions = v.get("securityDefinitions").and_then(Value::as_object).map(|m| pb::SecurityDefinitions {
        additional_properties: m
            .iter()
            .map(|(n, x)| pb::NamedSecurityDefinitionsItem {
                name: n.clone(),
                value: Some(pb::SecurityDefinitionsItem {
                    oneof: Some(pb::SecurityDefinitionsOneof::ApiKeySecurity(pb::ApiKeySecurity {
                        r#type: s(x, "type"),
                        name: s(x, "name"),
                        r#in: s(x, "in"),
                        description: s(x, "description"),
                    })),
                }),
            })
            .collect(),
    });
    let security = v
        .get("security")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_object)
                .map(|m| pb::SecurityRequirement {
                    additional_properties: m
                        .iter()
                        .map(|(n, x)| pb::NamedStringArray {
                            name: n.clone(),
                            value: Some(pb::StringArray { value: x.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect() }),
                        })
                        .collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    let info = v.get("info").map(|i| pb::Info { title: s(i, "title"), version: s(i, "version"), description: s(i, "description") });
    pb::Document {
        swagger: s(v, "swagger"),
        info,
        schemes: strings(v, "schemes"),
        consumes: strings(v, "consumes"),
        produces: strings(v, "produces"),
        paths,
        definitions: named_schemas("definitions").map(|additional_properties| pb::Definitions { additional_properties }),
        security,
        security_definitions,
        vendor_extension: extensions(v),
    }
}

/// Encodes the Swagger 2.0 JSON document as gnostic protobuf.
pub(crate) fn encode_protobuf(v: &Value) -> Vec<u8> {
    proto_document(v).encode_to_vec()
}
