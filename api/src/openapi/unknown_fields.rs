//! Unknown-field detection for `fieldValidation=Strict` and `Warn`.
//!
//! Upstream finds these while strictly decoding the request body into the Go types
//! (sigs.k8s.io/json), and reports each as `unknown field "<path>"`, where the path joins
//! field names and map keys with `.` and gives list positions as `[i]`, with no leading dot:
//! `unknown field "spec.limits[0].defaulyRequest"`. Fields are matched case-sensitively, in
//! document order. We walk the object against the kind's schema and return those paths.
//!
//! What accepts anything: schemas without `properties` (RawExtension, FieldsV1, the
//! int-or-string types), free-form maps (`additionalProperties`, e.g. labels or data), and
//! schemas marked `x-kubernetes-preserve-unknown-fields`. A value whose JSON type does not fit
//! the schema is left to the decoder's own type errors and not looked into.

use serde_json::{Map, Value};

use super::schemas::REF_PREFIX;

/// Returns the unknown-field paths of `object` checked against the definition `def`.
pub(crate) fn find(defs: &Map<String, Value>, def: &str, object: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(schema) = defs.get(def) {
        walk(defs, schema, object, &mut Vec::new(), &mut out);
    }
    out
}

/// Follows `$ref`s (and single-member `allOf`s) to the schema that describes the value.
fn resolve<'a>(defs: &'a Map<String, Value>, mut schema: &'a Value) -> &'a Value {
    for _ in 0..32 {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            match r.strip_prefix(REF_PREFIX).and_then(|n| defs.get(n)) {
                Some(next) => schema = next,
                None => return schema,
            }
        } else if let Some([only]) = schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
            schema = only;
        } else {
            break;
        }
    }
    schema
}

/// One step of the path to a value: a field or map key, or a list position.
enum Step<'a> {
    Field(&'a str),
    Index(usize),
}

/// The path as upstream words it, written only for an unknown field (most objects have none).
fn render(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Field(name) if out.is_empty() => out.push_str(name),
            Step::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn walk<'v>(defs: &Map<String, Value>, schema: &Value, value: &'v Value, path: &mut Vec<Step<'v>>, out: &mut Vec<String>) {
    // Objects nest far less deeply than this; it only bounds hostile input.
    if path.len() > 256 {
        return;
    }
    let schema = resolve(defs, schema);
    if schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true) {
        return;
    }
    match value {
        Value::Object(fields) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, v) in fields {
                    match props.get(name) {
                        Some(sub) => {
                            path.push(Step::Field(name));
                            walk(defs, sub, v, path, out);
                            path.pop();
                        }
                        // Type fields are known on every object, whatever its schema says.
                        None if path.is_empty() && (name == "apiVersion" || name == "kind") => {}
                        None => {
                            path.push(Step::Field(name));
                            out.push(render(path));
                            path.pop();
                        }
                    }
                }
            } else if let Some(sub @ Value::Object(_)) = schema.get("additionalProperties") {
                for (key, v) in fields {
                    path.push(Step::Field(key));
                    walk(defs, sub, v, path, out);
                    path.pop();
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub @ Value::Object(_)) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    walk(defs, sub, v, path, out);
                    path.pop();
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defs() -> Map<String, Value> {
        let v = json!({
            "T": {
                "type": "object",
                "properties": {
                    "spec": { "$ref": "#/definitions/S" },
                    "raw": { "type": "object" },
                    "free": { "type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {} },
                },
            },
            "S": {
                "type": "object",
                "properties": {
                    "list": { "type": "array", "items": { "$ref": "#/definitions/I" } },
                    "map": { "type": "object", "additionalProperties": { "$ref": "#/definitions/I" } },
                },
            },
            "I": { "type": "object", "properties": { "a": { "type": "string" } } },
        });
        v.as_object().unwrap().clone()
    }

    #[test]
    fn paths_are_worded_as_upstream() {
        let obj = json!({
            "spec": { "list": [{ "a": "x" }, { "b": 1 }], "map": { "k": { "c": 2 } }, "Spec": 1 },
            "raw": { "anything": { "goes": true } },
            "free": { "x": 1 },
            "extra": null,
        });
        assert_eq!(find(&defs(), "T", &obj), vec!["spec.list[1].b", "spec.map.k.c", "spec.Spec", "extra"]);
    }

    #[test]
    fn mistyped_values_are_not_looked_into() {
        let obj = json!({ "spec": "oops", "raw": [1, 2] });
        assert!(find(&defs(), "T", &obj).is_empty());
        assert!(find(&defs(), "missing", &obj).is_empty());
    }
}
