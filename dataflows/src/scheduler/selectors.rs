//! Label and node selectors with upstream's semantics, parsed from JSON.
//!
//! - [`LabelSelector`], as `metav1.LabelSelectorAsSelector` (`k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go`):
//!   a missing selector selects nothing, an empty one everything.
//! - [`NodeSelectorTerm`], as `k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go`:
//!   `matchExpressions` with `Gt`/`Lt`, and `matchFields` on `metadata.name`. A term that fails
//!   to parse matches no node, as upstream's lazy-error selector drops it.
//!
//! Keys and values are validated as upstream's `labels.NewRequirement` does, because upstream
//! treats an invalid value as a parse error (a dropped term, or an unschedulable pod), not as a
//! value that simply never matches.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rows::Labels;

/// The value of `key` in sorted labels.
pub fn label_value<'a>(labels: &'a Labels, key: &str) -> Option<&'a str> {
    labels.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok().map(|i| labels[i].1.as_str())
}

/// A selector operator (`labels/selection.Operator` and `v1.NodeSelectorOperator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Operator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    /// Node selectors only: the label, read as an integer, is greater than the value.
    Gt,
    /// Node selectors only: the label, read as an integer, is less than the value.
    Lt,
}

/// One requirement on a label: key, operator and (sorted) values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Requirement {
    /// `key` equals `value` (a `matchLabels` entry).
    pub fn equals(key: &str, value: &str) -> Requirement {
        Requirement { key: key.to_string(), operator: Operator::In, values: vec![value.to_string()] }
    }

    /// Upstream's `labels.NewRequirement` checks, then the requirement.
    fn new(key: &str, operator: Operator, mut values: Vec<String>) -> Result<Requirement, String> {
        validate_qualified_name(key).map_err(|e| format!("key: Invalid value: {key:?}: {e}"))?;
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return Err(format!("values: Invalid value: {values:?}: for 'in', 'notin' operators, values set can't be empty"))
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err(format!("values: Invalid value: {values:?}: values set must be empty for exists and does not exist"))
            }
            Operator::Gt | Operator::Lt => {
                if values.len() != 1 {
                    return Err(format!("values: Invalid value: {values:?}: for 'Gt', 'Lt' operators, exactly one value is required"));
                }
                if values[0].parse::<i64>().is_err() {
                    return Err(format!("values[0]: Invalid value: {:?}: for 'Gt', 'Lt' operators, the value must be an integer", values[0]));
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            validate_label_value(v).map_err(|e| format!("values[{i}][{key}]: Invalid value: {v:?}: {e}"))?;
        }
        values.sort();
        values.dedup();
        Ok(Requirement { key: key.to_string(), operator, values })
    }

    /// Upstream's `Requirement.Matches`.
    pub fn matches(&self, labels: &Labels) -> bool {
        let value = label_value(labels, &self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Gt | Operator::Lt => {
                let (Some(label), Some(bound)) = (value.and_then(|v| v.parse::<i64>().ok()), self.values.first().and_then(|v| v.parse::<i64>().ok())) else {
                    return false;
                };
                if self.operator == Operator::Gt {
                    label > bound
                } else {
                    label < bound
                }
            }
        }
    }
}

/// A parsed label selector. `Nothing` is what a missing selector means; `Requirements(vec![])`
/// selects everything.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LabelSelector {
    Nothing,
    Requirements(Vec<Requirement>),
}

impl LabelSelector {
    pub const EVERYTHING: LabelSelector = LabelSelector::Requirements(Vec::new());

    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            LabelSelector::Nothing => false,
            LabelSelector::Requirements(rs) => rs.iter().all(|r| r.matches(labels)),
        }
    }

    /// Upstream's `Selector.Empty()`: true only for a selector with no requirements (so not for
    /// `Nothing`).
    pub fn is_empty(&self) -> bool {
        matches!(self, LabelSelector::Requirements(rs) if rs.is_empty())
    }

    /// Upstream's `Selector.Add`: `Nothing` stays `Nothing`.
    pub fn and(self, more: impl IntoIterator<Item = Requirement>) -> LabelSelector {
        match self {
            LabelSelector::Nothing => LabelSelector::Nothing,
            LabelSelector::Requirements(mut rs) => {
                rs.extend(more);
                rs.sort();
                rs.dedup();
                LabelSelector::Requirements(rs)
            }
        }
    }

    /// The selector of a plain label map (`labels.Set.AsSelector`).
    pub fn from_map(labels: &Labels) -> LabelSelector {
        LabelSelector::Requirements(labels.iter().map(|(k, v)| Requirement::equals(k, v)).collect())
    }

    /// `metav1.LabelSelectorAsSelector` of a `LabelSelector` JSON value. Structural errors
    /// (wrong types) and invalid keys, values or operators are errors.
    pub fn from_json(v: Option<&Value>) -> Result<LabelSelector, String> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(LabelSelector::Nothing);
        };
        let mut rs = Vec::new();
        for (k, val) in v.get("matchLabels").and_then(Value::as_object).into_iter().flatten() {
            let val = val.as_str().ok_or_else(|| format!("matchLabels[{k}] is not a string"))?;
            rs.push(Requirement::new(k, Operator::In, vec![val.to_string()])?);
        }
        for e in v.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
            let key = e.get("key").and_then(Value::as_str).ok_or("matchExpression without key")?;
            let op = match e.get("operator").and_then(Value::as_str).unwrap_or_default() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            };
            rs.push(Requirement::new(key, op, string_list(e.get("values"))?)?);
        }
        rs.sort();
        rs.dedup();
        Ok(LabelSelector::Requirements(rs))
    }
}

/// A `matchFields` requirement: only `metadata.name` has a value on a node; other keys read as "".
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FieldRequirement {
    pub key: String,
    /// `In` (equals) or `NotIn` (differs).
    pub equals: bool,
    pub value: String,
}

/// The field path of a node's name in `matchFields`.
pub const NODE_NAME_FIELD: &str = "metadata.name";

/// One `nodeSelectorTerms` entry (or a preferred term's `preference`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeSelectorTerm {
    pub expressions: Vec<Requirement>,
    pub fields: Vec<FieldRequirement>,
    /// Why the term did not parse; such a term matches no node.
    pub error: Option<String>,
}

impl NodeSelectorTerm {
    /// Whether the node matches: every requirement holds, and the term is neither empty nor
    /// invalid (upstream's `nodeSelectorTerm.match`).
    pub fn matches(&self, node_name: &str, node_labels: &Labels) -> bool {
        if self.error.is_some() || (self.expressions.is_empty() && self.fields.is_empty()) {
            return false;
        }
        self.expressions.iter().all(|r| r.matches(node_labels))
            && self.fields.iter().all(|f| {
                let actual = if f.key == NODE_NAME_FIELD { node_name } else { "" };
                (actual == f.value) == f.equals
            })
    }

    /// The node names an `In` on `metadata.name` pins the term to (their intersection), if any.
    pub fn pinned_node_names(&self) -> Option<Vec<String>> {
        let mut names: Option<Vec<String>> = None;
        for f in self.fields.iter().filter(|f| f.key == NODE_NAME_FIELD && f.equals) {
            names = Some(match names {
                None => vec![f.value.clone()],
                Some(prev) => prev.into_iter().filter(|n| *n == f.value).collect(),
            });
        }
        names
    }

    /// Parses a `NodeSelectorTerm`; a term that fails validation keeps its error.
    pub fn from_json(v: &Value) -> Result<NodeSelectorTerm, String> {
        let mut term = NodeSelectorTerm { expressions: vec![], fields: vec![], error: None };
        for e in v.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
            let (key, op, values) = node_requirement_parts(e)?;
            let parsed = match op {
                Some(op) => Requirement::new(&key, op, values),
                None => Err(format!("operator: Unsupported value for {key:?}")),
            };
            match parsed {
                Ok(r) => term.expressions.push(r),
                Err(e) => term.error = term.error.or(Some(e)),
            }
        }
        for e in v.get("matchFields").and_then(Value::as_array).into_iter().flatten() {
            let (key, op, values) = node_requirement_parts(e)?;
            if values.len() != 1 {
                term.error = term.error.or(Some(format!("matchFields values: Invalid value: {values:?}: must have one element")));
                continue;
            }
            match op {
                Some(Operator::In) | Some(Operator::NotIn) => {
                    term.fields.push(FieldRequirement { key, equals: op == Some(Operator::In), value: values[0].clone() })
                }
                _ => term.error = term.error.or(Some(format!("matchFields operator: Unsupported value for {key:?}"))),
            }
        }
        term.expressions.sort();
        term.fields.sort();
        Ok(term)
    }
}

fn node_requirement_parts(e: &Value) -> Result<(String, Option<Operator>, Vec<String>), String> {
    let key = e.get("key").and_then(Value::as_str).ok_or("node selector requirement without key")?.to_string();
    let op = match e.get("operator").and_then(Value::as_str).unwrap_or_default() {
        "In" => Some(Operator::In),
        "NotIn" => Some(Operator::NotIn),
        "Exists" => Some(Operator::Exists),
        "DoesNotExist" => Some(Operator::DoesNotExist),
        "Gt" => Some(Operator::Gt),
        "Lt" => Some(Operator::Lt),
        _ => None,
    };
    Ok((key, op, string_list(e.get("values"))?))
}

/// A JSON array of strings (absent or null is empty).
pub(crate) fn string_list(v: Option<&Value>) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => a.iter().map(|x| x.as_str().map(str::to_string).ok_or_else(|| "list entry is not a string".to_string())).collect(),
        Some(_) => Err("expected a list of strings".into()),
    }
}

const NAME_ERROR: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const VALUE_ERROR: &str =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, the shape of label names and values.
fn is_label_token(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Upstream's `validation.IsValidLabelValue`.
pub fn validate_label_value(v: &str) -> Result<(), String> {
    if v.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    if !v.is_empty() && !is_label_token(v) {
        return Err(VALUE_ERROR.into());
    }
    Ok(())
}

/// Upstream's `validation.IsQualifiedName`: an optional DNS-subdomain prefix and a name part.
pub fn validate_qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if name.contains('/') {
        return Err("a qualified name must consist of an optional prefix and a name separated by one '/'".into());
    }
    if name.is_empty() || name.len() > 63 || !is_label_token(name) {
        return Err(NAME_ERROR.into());
    }
    if let Some(p) = prefix {
        let subdomain = !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|l| {
                let b = l.as_bytes();
                !b.is_empty()
                    && b[0].is_ascii_alphanumeric()
                    && b[b.len() - 1].is_ascii_alphanumeric()
                    && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            });
        if !subdomain {
            return Err("prefix part must be a lowercase RFC 1123 subdomain".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        let mut l: Labels = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        l.sort();
        l
    }

    #[test]
    fn missing_selects_nothing_and_empty_selects_everything() {
        let l = labels(&[("a", "b")]);
        assert!(!LabelSelector::from_json(None).unwrap().matches(&l));
        assert!(LabelSelector::from_json(Some(&json!({}))).unwrap().matches(&l));
        assert!(LabelSelector::from_json(Some(&json!({}))).unwrap().is_empty());
        assert!(!LabelSelector::Nothing.is_empty());
    }

    #[test]
    fn operators_follow_upstream() {
        let l = labels(&[("kernel-version", "0206"), ("mem-type", "DDR3")]);
        let term = |e: Value| NodeSelectorTerm::from_json(&json!({"matchExpressions": [e]})).unwrap();
        assert!(term(json!({"key": "kernel-version", "operator": "Gt", "values": ["0204"]})).matches("n", &l));
        assert!(!term(json!({"key": "kernel-version", "operator": "Lt", "values": ["0204"]})).matches("n", &l));
        assert!(term(json!({"key": "mem-type", "operator": "NotIn", "values": ["DDR", "DDR2"]})).matches("n", &l));
        assert!(term(json!({"key": "absent", "operator": "NotIn", "values": ["x"]})).matches("n", &l));
        assert!(!term(json!({"key": "absent", "operator": "Exists"})).matches("n", &l));
    }

    #[test]
    fn invalid_value_makes_the_term_match_nothing() {
        let l = labels(&[("foo", "bar")]);
        let t =
            NodeSelectorTerm::from_json(&json!({"matchExpressions": [{"key": "foo", "operator": "NotIn", "values": ["invalid value: ___@#$%^"]}]})).unwrap();
        assert!(t.error.is_some());
        assert!(!t.matches("n", &l));
    }

    #[test]
    fn match_fields_read_the_node_name() {
        let t = NodeSelectorTerm::from_json(&json!({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node1"]}]})).unwrap();
        assert!(t.matches("node1", &vec![]));
        assert!(!t.matches("node2", &vec![]));
        assert_eq!(t.pinned_node_names(), Some(vec!["node1".to_string()]));
    }

    #[test]
    fn qualified_names() {
        assert!(validate_qualified_name("kubernetes.io/hostname").is_ok());
        assert!(validate_qualified_name("invalid key").is_err());
        assert!(validate_qualified_name("Bad.Prefix/x").is_err());
        assert!(validate_label_value("{{.bad-value.}}").is_err());
        assert!(validate_label_value("").is_ok());
    }
}
