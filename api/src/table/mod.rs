//! `meta.k8s.io/v1` Table output for `kubectl get`, with upstream Kubernetes' columns and cells.
//!
//! The printers follow `pkg/printers/internalversion/printers.go` (Kubernetes v1.34): the column
//! definitions of `AddHandlers` and one `print<Kind>` function per kind. Like the upstream
//! apiserver (`pkg/printers/storage`), every row is generated with `Wide: true`, so the
//! `priority: 1` cells are always present and kubectl hides them unless `-o wide` is asked for.
//! Kinds without a printer get the default convertor of
//! `staging/src/k8s.io/apiserver/pkg/registry/rest/table.go` ("Name" and "Created At").
//!
//! Objects are the stored JSON of version `v1` of their group. Where upstream's defaulting
//! always fills a field before it could be printed (a Deployment's replicas, a Service's type, a
//! port's protocol, …), a missing field is printed as its default, so a Table looks the same
//! whether or not the object went through defaulting.

mod apps;
mod batch;
mod core;
mod docs;
mod other;
mod pod;
mod quantity;
mod rbac;
mod storage;
mod util;

use serde_json::{json, Map, Value};

use util::Ctx;

/// Whether each row carries the object: None, Metadata (PartialObjectMetadata, the default) or Object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` table option; anything but `None` or `Object` means `Metadata`.
    pub fn parse(s: Option<&str>) -> IncludeObject {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// One column definition (`metav1.TableColumnDefinition`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Column {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    description: &'static str,
    priority: i32,
}

impl Column {
    /// A plain column shown by default.
    pub(crate) const fn new(name: &'static str, ty: &'static str, description: &'static str) -> Column {
        Column { name, ty, format: "", description, priority: 0 }
    }

    /// A `string` column.
    pub(crate) const fn string(name: &'static str, description: &'static str) -> Column {
        Column::new(name, "string", description)
    }

    /// An `integer` column.
    pub(crate) const fn integer(name: &'static str, description: &'static str) -> Column {
        Column::new(name, "integer", description)
    }

    /// The object's name column (`format: name`).
    pub(crate) const fn name() -> Column {
        Column { name: "Name", ty: "string", format: "name", description: docs::META_NAME, priority: 0 }
    }

    /// The "Age" column every printer carries.
    pub(crate) const fn age() -> Column {
        Column::string("Age", docs::META_CREATION_TIMESTAMP)
    }

    /// Marks the column as shown only with `-o wide`.
    pub(crate) const fn wide(mut self) -> Column {
        self.priority = 1;
        self
    }

    fn to_json(self) -> Value {
        json!({
            "name": self.name,
            "type": self.ty,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        })
    }
}

/// The cells of one row, plus the row conditions some printers set.
pub(crate) struct Row {
    pub(crate) cells: Vec<Value>,
    pub(crate) conditions: Option<Value>,
}

impl Row {
    pub(crate) fn new(cells: Vec<Value>) -> Row {
        Row { cells, conditions: None }
    }
}

/// A printer's column definitions.
pub(crate) type ColumnsFn = fn() -> Vec<Column>;

/// A printer's row function.
pub(crate) type RowFn = fn(&Value, &Ctx) -> Row;

/// A printer: the column definitions of a kind and the function computing one row.
#[derive(Clone, Copy)]
pub(crate) struct Printer {
    pub(crate) columns: ColumnsFn,
    pub(crate) row: RowFn,
}

/// The printer upstream registers for `group`/`plural`, if any.
fn printer_for(group: &str, plural: &str) -> Option<Printer> {
    match group {
        "" => core::printer(plural),
        "apps" => apps::printer(plural),
        "batch" => batch::printer(plural),
        "rbac.authorization.k8s.io" => rbac::printer(plural),
        _ => other::printer(group, plural),
    }
}

/// Builds a meta.k8s.io/v1 Table for objects of one resource.
/// group: "" for core, else e.g. "apps"; plural: e.g. "pods". now_unix: current time in unix seconds (for AGE).
/// include_column_definitions=false leaves `columnDefinitions` as an empty list (used for watch events after the first).
#[allow(clippy::too_many_arguments)]
pub fn build_table(
    group: &str,
    plural: &str,
    objects: &[Value],
    include: IncludeObject,
    resource_version: &str,
    continue_token: Option<&str>,
    now_unix: i64,
    include_column_definitions: bool,
) -> Value {
    let ctx = Ctx::new(now_unix);
    let printer = printer_for(group, plural);

    let columns: Vec<Value> = if include_column_definitions {
        match printer {
            Some(p) => (p.columns)().into_iter().map(Column::to_json).collect(),
            None => default_columns().into_iter().map(Column::to_json).collect(),
        }
    } else {
        Vec::new()
    };

    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let row = match printer {
                Some(p) => (p.row)(obj, &ctx),
                None => default_row(obj),
            };
            row_json(row, obj, include)
        })
        .collect();

    let mut metadata = Map::new();
    if !resource_version.is_empty() {
        metadata.insert("resourceVersion".into(), resource_version.into());
    }
    if let Some(token) = continue_token.filter(|t| !t.is_empty()) {
        metadata.insert("continue".into(), token.into());
    }

    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// Serializes a row, attaching the object as `include` asks.
fn row_json(row: Row, obj: &Value, include: IncludeObject) -> Value {
    let mut out = Map::new();
    out.insert("cells".into(), Value::Array(row.cells));
    if let Some(conditions) = row.conditions {
        out.insert("conditions".into(), conditions);
    }
    match include {
        IncludeObject::None => {}
        IncludeObject::Object => {
            out.insert("object".into(), obj.clone());
        }
        IncludeObject::Metadata => {
            let metadata = match obj.get("metadata") {
                Some(m @ Value::Object(_)) => m.clone(),
                _ => Value::Object(Map::new()),
            };
            out.insert(
                "object".into(),
                json!({
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": metadata,
                }),
            );
        }
    }
    Value::Object(out)
}

/// Columns of the default table convertor (`rest.NewDefaultTableConvertor`).
fn default_columns() -> Vec<Column> {
    vec![Column::name(), Column::new("Created At", "date", docs::META_CREATION_TIMESTAMP)]
}

/// A row of the default table convertor: the name and the creation time in RFC 3339, UTC.
fn default_row(obj: &Value) -> Row {
    let created = util::timestamp(obj, &["metadata", "creationTimestamp"])
        .and_then(|nanos| jiff::Timestamp::from_nanosecond(nanos).ok())
        .map(|ts| ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        // Go's zero time, which upstream prints for an object without a creation time.
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    Row::new(vec![util::name(obj).into(), created.into()])
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn pod() -> Value {
        json!({
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"name": "web", "namespace": "default", "resourceVersion": "7",
                         "creationTimestamp": "2023-11-14T22:13:00Z"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": "Running"},
        })
    }

    #[test]
    fn include_object_parses_upstream_values() {
        assert_eq!(IncludeObject::parse(None), IncludeObject::Metadata);
        assert_eq!(IncludeObject::parse(Some("None")), IncludeObject::None);
        assert_eq!(IncludeObject::parse(Some("Object")), IncludeObject::Object);
        assert_eq!(IncludeObject::parse(Some("Metadata")), IncludeObject::Metadata);
        assert_eq!(IncludeObject::parse(Some("bogus")), IncludeObject::Metadata);
    }

    #[test]
    fn table_shape_with_partial_metadata() {
        let t = build_table("", "pods", &[pod()], IncludeObject::Metadata, "42", Some("tok"), NOW, true);
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], json!({"resourceVersion": "42", "continue": "tok"}));
        let cols = t["columnDefinitions"].as_array().unwrap();
        assert_eq!(cols.len(), 9);
        assert_eq!(cols[0]["name"], "Name");
        assert_eq!(cols[0]["format"], "name");
        assert_eq!(cols[5]["priority"], 1);
        let row = &t["rows"][0];
        assert_eq!(row["cells"].as_array().unwrap().len(), 9);
        assert_eq!(row["cells"][4], "20s");
        assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(row["object"]["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(row["object"]["metadata"]["name"], "web");
        assert!(row.get("conditions").is_none());
    }

    #[test]
    fn include_none_and_object() {
        let t = build_table("", "pods", &[pod()], IncludeObject::None, "", None, NOW, false);
        assert_eq!(t["metadata"], json!({}));
        assert_eq!(t["columnDefinitions"], json!([]));
        assert!(t["rows"][0].get("object").is_none());
        let t = build_table("", "pods", &[pod()], IncludeObject::Object, "1", None, NOW, true);
        assert_eq!(t["rows"][0]["object"], pod());
    }

    #[test]
    fn every_printer_has_one_cell_per_column() {
        let plurals: &[(&str, &str)] = &[
            ("", "pods"),
            ("", "services"),
            ("", "endpoints"),
            ("", "nodes"),
            ("", "namespaces"),
            ("", "configmaps"),
            ("", "secrets"),
            ("", "serviceaccounts"),
            ("", "resourcequotas"),
            ("", "limitranges"),
            ("", "events"),
            ("", "replicationcontrollers"),
            ("", "persistentvolumes"),
            ("", "persistentvolumeclaims"),
            ("", "bindings"),
            ("apps", "controllerrevisions"),
            ("apps", "daemonsets"),
            ("apps", "deployments"),
            ("apps", "replicasets"),
            ("apps", "statefulsets"),
            ("discovery.k8s.io", "endpointslices"),
            ("coordination.k8s.io", "leases"),
            ("events.k8s.io", "events"),
            ("rbac.authorization.k8s.io", "clusterrolebindings"),
            ("rbac.authorization.k8s.io", "clusterroles"),
            ("rbac.authorization.k8s.io", "rolebindings"),
            ("rbac.authorization.k8s.io", "roles"),
            ("authorization.k8s.io", "subjectaccessreviews"),
            ("authentication.k8s.io", "tokenreviews"),
            ("batch", "cronjobs"),
            ("batch", "jobs"),
            ("policy", "poddisruptionbudgets"),
        ];
        // Odd inputs must not panic and must still fill every column.
        let odd = [json!({}), json!(null), json!({"metadata": 5, "spec": [], "status": "x"}), pod()];
        for (group, plural) in plurals {
            let t = build_table(group, plural, &odd, IncludeObject::Metadata, "1", None, NOW, true);
            let ncols = t["columnDefinitions"].as_array().unwrap().len();
            for row in t["rows"].as_array().unwrap() {
                assert_eq!(row["cells"].as_array().unwrap().len(), ncols, "{group}/{plural}");
            }
        }
    }

    #[test]
    fn default_convertor_for_kinds_without_printer() {
        let role = json!({"metadata": {"name": "r", "creationTimestamp": "2024-01-02T03:04:05+01:00"}});
        let t = build_table("rbac.authorization.k8s.io", "roles", &[role, json!({})], IncludeObject::None, "1", None, NOW, true);
        assert_eq!(t["columnDefinitions"][1]["name"], "Created At");
        assert_eq!(t["columnDefinitions"][1]["type"], "date");
        assert_eq!(t["rows"][0]["cells"], json!(["r", "2024-01-02T02:04:05Z"]));
        assert_eq!(t["rows"][1]["cells"], json!(["", "0001-01-01T00:00:00Z"]));
    }
}
