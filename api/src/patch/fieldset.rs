//! Sets of field paths, the ownership unit of server-side apply, and their `FieldsV1` form.
//!
//! Mirrors `sigs.k8s.io/structured-merge-diff/v4/fieldpath`: a [`FieldSet`] is a tree whose
//! nodes have *members* (paths in the set) and *children* (sub-trees); a path can be both, as
//! when a manager owns a list element itself and some of its fields. Path elements are
//! `f:<field>`, `k:{"key":value,...}` (list-map element, keys sorted), `v:<json>` (set
//! element) and `i:<index>` (atomic list position). [`FieldSet::to_fields_v1`] writes
//! upstream's `FieldsV1` JSON (`{"f:spec":{"f:replicas":{}}}`, with `"."` marking a node
//! that is also a member), and [`FieldSet::from_fields_v1`] reads it back.

use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathElement {
    /// A field of an object: `f:name`.
    Field(String),
    /// An element of a list-map, by its key fields (sorted by name): `k:{"name":"c"}`.
    Key(Vec<(String, Value)>),
    /// An element of a set of primitives: `v:"x"`.
    Value(Value),
    /// A position in an atomic list: `i:0`.
    Index(usize),
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// A total order on JSON values (numbers numerically, strings lexically).
pub(crate) fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => {
            let (fx, fy) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            fx.total_cmp(&fy).then_with(|| x.to_string().cmp(&y.to_string()))
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)).then_with(|| a.to_string().cmp(&b.to_string())),
    }
}

impl PathElement {
    fn kind(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// Parses a `FieldsV1` key; `Ok(None)` for element types this version doesn't know
    /// (upstream ignores those too).
    pub fn parse(s: &str) -> Result<Option<PathElement>, String> {
        let (kind, rest) = s.split_once(':').filter(|(k, _)| k.len() == 1).ok_or_else(|| format!("bad path element {s:?}"))?;
        let json = |r: &str| serde_json::from_str::<Value>(r).map_err(|e| format!("bad path element {s:?}: {e}"));
        Ok(Some(match kind {
            "f" => PathElement::Field(rest.to_owned()),
            "v" => PathElement::Value(json(rest)?),
            "i" => PathElement::Index(rest.parse().map_err(|_| format!("bad index in {s:?}"))?),
            "k" => match json(rest)? {
                Value::Object(m) => PathElement::key(m.into_iter().collect()),
                _ => return Err(format!("key is not an object: {s:?}")),
            },
            _ => return Ok(None),
        }))
    }

    /// A list-map element key from (name, value) pairs in any order.
    pub fn key(mut fields: Vec<(String, Value)>) -> PathElement {
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        PathElement::Key(fields)
    }

    /// The `FieldsV1` spelling of this element.
    pub fn serialize(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
            PathElement::Key(fields) => {
                let obj: Map<String, Value> = fields.iter().cloned().collect();
                format!("k:{}", Value::Object(obj))
            }
        }
    }

    /// Upstream's human-readable spelling (`.spec`, `[name="c"]`, `[="x"]`, `[0]`).
    pub fn display(&self) -> String {
        let show = |v: &Value| match v {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        match self {
            PathElement::Field(f) => format!(".{f}"),
            PathElement::Value(v) => format!("[={}]", show(v)),
            PathElement::Index(i) => format!("[{i}]"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={}", show(v))).collect();
                format!("[{}]", parts.join(","))
            }
        }
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            (PathElement::Value(a), PathElement::Value(b)) => cmp_values(a, b),
            (PathElement::Key(a), PathElement::Key(b)) => {
                for ((ka, va), (kb, vb)) in a.iter().zip(b.iter()) {
                    let c = ka.cmp(kb).then_with(|| cmp_values(va, vb));
                    if c != Ordering::Equal {
                        return c;
                    }
                }
                a.len().cmp(&b.len())
            }
            _ => self.kind().cmp(&other.kind()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Upstream's path spelling, e.g. `.spec.template.spec.containers[name="nginx"].image`.
pub fn path_string(path: &[PathElement]) -> String {
    path.iter().map(PathElement::display).collect()
}

/// A set of field paths (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// No path is in the set.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds `path` (ignored if empty).
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            // The element is cloned only when its child set is new.
            [first, rest @ ..] => match self.children.get_mut(first) {
                Some(child) => child.insert(rest),
                None => self.children.entry(first.clone()).or_default().insert(rest),
            },
        }
    }

    /// Whether `path` is in the set.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// Whether the single element `pe` is a member at this level.
    pub fn has_member(&self, pe: &PathElement) -> bool {
        self.members.contains(pe)
    }

    /// The paths below `pe`, without the prefix (upstream `WithPrefix`).
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe).filter(|c| !c.is_empty())
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, set) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(set),
                None => set.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// Paths in `self` but not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, set) in &self.children {
            let diff = match other.children.get(pe) {
                Some(o) => set.difference(o),
                None => set.clone(),
            };
            if !diff.is_empty() {
                children.insert(pe.clone(), diff);
            }
        }
        FieldSet { members, children }
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, set) in &self.children {
            if let Some(o) = other.children.get(pe) {
                let both = set.intersection(o);
                if !both.is_empty() {
                    children.insert(pe.clone(), both);
                }
            }
        }
        FieldSet { members, children }
    }

    /// The set without `pe` and everything below it (top level only).
    pub fn without_subtree(&self, pe: &PathElement) -> FieldSet {
        let mut out = self.clone();
        out.remove_subtree(pe);
        out
    }

    /// Removes `pe` and everything below it (top level only).
    pub fn remove_subtree(&mut self, pe: &PathElement) {
        self.members.remove(pe);
        self.children.remove(pe);
    }

    /// Upstream `EnsureNamedFieldsAreMembers`, with every object field treated as named
    /// when `named` (built-in kinds): a field with owned descendants is itself owned.
    pub fn ensure_named_fields(&self, named: bool) -> FieldSet {
        let mut out = FieldSet { members: self.members.clone(), children: BTreeMap::new() };
        for (pe, set) in &self.children {
            if named && matches!(pe, PathElement::Field(_)) && !set.is_empty() {
                out.members.insert(pe.clone());
            }
            out.children.insert(pe.clone(), set.ensure_named_fields(named));
        }
        out
    }

    /// Every path in the set, in upstream's iteration order (members, then children).
    pub fn paths(&self) -> Vec<Vec<PathElement>> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(p);
        }
        for (pe, set) in &self.children {
            prefix.push(pe.clone());
            set.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The `FieldsV1` JSON object of this set.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        // Members and non-empty children, both sorted, merged in order.
        let mut children = self.children.iter().filter(|(_, c)| !c.is_empty()).peekable();
        for member in &self.members {
            while let Some((pe, child)) = children.next_if(|(pe, _)| *pe < member) {
                out.insert(pe.serialize(), Value::Object(child.emit(false)));
            }
            let below = children.next_if(|(pe, _)| *pe == member).map_or_else(Map::new, |(_, child)| child.emit(true));
            out.insert(member.serialize(), Value::Object(below));
        }
        for (pe, child) in children {
            out.insert(pe.serialize(), Value::Object(child.emit(false)));
        }
        out
    }

    /// Reads a `FieldsV1` JSON object.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let Value::Object(m) = v else {
            return Err("fieldsV1 is not an object".into());
        };
        Ok(Self::read(m, 0)?.0)
    }

    /// Returns the set below this node and whether the node itself is a member.
    fn read(obj: &Map<String, Value>, depth: usize) -> Result<(FieldSet, bool), String> {
        if depth > super::MAX_DEPTH {
            return Err("fieldsV1 nested too deeply".into());
        }
        let mut set = FieldSet::new();
        let mut dot = false;
        for (k, v) in obj {
            if k == "." {
                dot = true;
                continue;
            }
            let Some(pe) = PathElement::parse(k)? else {
                continue;
            };
            let Value::Object(inner) = v else {
                return Err(format!("value of {k:?} is not an object"));
            };
            let (child, member) = Self::read(inner, depth + 1)?;
            if member {
                set.members.insert(pe.clone());
            }
            if !child.is_empty() {
                set.children.insert(pe, child);
            }
        }
        let member = dot || set.is_empty();
        Ok((set, member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.into())
    }

    #[test]
    fn fields_v1_round_trip_matches_upstream_shape() {
        let text = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}
                }}}
            },
            "f:finalizers": {"v:\"a\"": {}}
        });
        let set = FieldSet::from_fields_v1(&text).unwrap();
        let container = PathElement::key(vec![("name".into(), json!("nginx"))]);
        let containers = [f("spec"), f("template"), f("spec"), f("containers")];
        assert!(set.has(&[f("metadata"), f("labels")]));
        assert!(!set.has(&[f("metadata")]));
        assert!(set.has(&[&containers[..], std::slice::from_ref(&container)].concat()));
        assert!(set.has(&[&containers[..], &[container, f("image")]].concat()));
        assert!(set.has(&[f("finalizers"), PathElement::Value(json!("a"))]));
        assert_eq!(set.to_fields_v1(), text);
        let v1 = set.to_fields_v1();
        let keys: Vec<&String> = v1.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["f:finalizers", "f:metadata", "f:spec"]);
    }

    #[test]
    fn set_algebra_and_paths() {
        let mut a = FieldSet::new();
        a.insert(&[f("spec"), f("replicas")]);
        a.insert(&[f("spec"), f("paused")]);
        let mut b = FieldSet::new();
        b.insert(&[f("spec"), f("replicas")]);
        b.insert(&[f("metadata")]);
        assert_eq!(a.intersection(&b).paths(), vec![vec![f("spec"), f("replicas")]]);
        assert_eq!(a.difference(&b).paths(), vec![vec![f("spec"), f("paused")]]);
        assert_eq!(a.union(&b).paths().len(), 3);
        assert!(a.difference(&a).is_empty());
        assert_eq!(a.union(&b).without_subtree(&f("spec")).paths(), vec![vec![f("metadata")]]);
        assert!(a.ensure_named_fields(true).has(&[f("spec")]));
        assert!(!a.ensure_named_fields(false).has(&[f("spec")]));
        let key = PathElement::key(vec![("protocol".into(), json!("TCP")), ("containerPort".into(), json!(80))]);
        assert_eq!(key.serialize(), r#"k:{"containerPort":80,"protocol":"TCP"}"#);
        let path = [f("spec"), f("ports"), key, f("name")];
        assert_eq!(path_string(&path), r#".spec.ports[containerPort=80,protocol="TCP"].name"#);
        assert_eq!(path_string(&[f("x"), PathElement::Value(json!("v")), PathElement::Index(2)]), r#".x[="v"][2]"#);
    }

    #[test]
    fn malformed_fields_v1_is_an_error() {
        assert!(FieldSet::from_fields_v1(&json!([])).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"f:a": 1})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"x": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"k:[1]": {}})).is_err());
        assert!(FieldSet::from_fields_v1(&json!({"i:x": {}})).is_err());
        assert_eq!(FieldSet::from_fields_v1(&json!({"z:future": {}})).unwrap(), FieldSet::new());
    }
}
