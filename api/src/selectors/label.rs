//! Label selectors: equality (`a=b`, `a==b`, `a!=b`) and set-based (`a in (x,y)`,
//! `a notin (x)`, `a`, `!a`), as upstream's `labels.Parse`.

use serde_json::Value;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

/// A selector that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse requirement: {0}")]
pub struct LabelSelectorError(pub String);

fn valid_key(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or("");
    !name.is_empty()
        && name.len() <= 63
        && key.split('/').count() <= 2
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
}

fn valid_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && value.chars().last().is_some_and(|c| c.is_ascii_alphanumeric()))
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

impl LabelSelector {
    pub fn parse(input: &str) -> Result<LabelSelector, LabelSelectorError> {
        let mut requirements = Vec::new();
        if input.trim().is_empty() {
            return Ok(LabelSelector { requirements });
        }
        for raw in split_top_level(input) {
            let part = raw.trim();
            let err = || LabelSelectorError(format!("{part:?}"));
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement::DoesNotExist(key.trim().to_string())
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement::NotEquals(key.trim().into(), value.trim().into())
            } else if let Some((key, value)) = part.split_once("==") {
                Requirement::Equals(key.trim().into(), value.trim().into())
            } else if let Some((key, value)) = part.split_once('=') {
                Requirement::Equals(key.trim().into(), value.trim().into())
            } else if let Some((key, set, negated)) = set_requirement(part) {
                let values: Vec<String> = set.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
                if values.iter().any(|v| !valid_value(v)) {
                    return Err(err());
                }
                if negated {
                    Requirement::NotIn(key, values)
                } else {
                    Requirement::In(key, values)
                }
            } else {
                Requirement::Exists(part.to_string())
            };
            let (key, value) = match &requirement {
                Requirement::Equals(k, v) | Requirement::NotEquals(k, v) => (k, Some(v)),
                Requirement::In(k, _) | Requirement::NotIn(k, _) | Requirement::Exists(k) | Requirement::DoesNotExist(k) => (k, None),
            };
            if !valid_key(key) || value.is_some_and(|v| !valid_value(v)) {
                return Err(err());
            }
            requirements.push(requirement);
        }
        Ok(LabelSelector { requirements })
    }

    /// Builds the selector of a `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`).
    pub fn from_object(selector: &Value) -> LabelSelector {
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                requirements.push(Requirement::Equals(k.clone(), v.as_str().unwrap_or_default().to_string()));
            }
        }
        for expr in selector.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
            let key = expr.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
            let values: Vec<String> =
                expr.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect();
            requirements.push(match expr.get("operator").and_then(Value::as_str) {
                Some("In") => Requirement::In(key, values),
                Some("NotIn") => Requirement::NotIn(key, values),
                Some("Exists") => Requirement::Exists(key),
                _ => Requirement::DoesNotExist(key),
            });
        }
        LabelSelector { requirements }
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels").and_then(Value::as_object);
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::DoesNotExist(k) => get(k).is_none(),
        })
    }

    /// The selector in upstream's string form, as `Scale.status.selector` carries it.
    pub fn to_selector_string(&self) -> String {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r {
                Requirement::Equals(k, v) => format!("{k}={v}"),
                Requirement::NotEquals(k, v) => format!("{k}!={v}"),
                Requirement::In(k, vs) => format!("{k} in ({})", vs.join(",")),
                Requirement::NotIn(k, vs) => format!("{k} notin ({})", vs.join(",")),
                Requirement::Exists(k) => k.clone(),
                Requirement::DoesNotExist(k) => format!("!{k}"),
            })
            .collect();
        parts.join(",")
    }
}

/// Parses `key in (a,b)` / `key notin (a)`; returns (key, inner set text, negated).
fn set_requirement(part: &str) -> Option<(String, &str, bool)> {
    let open = part.find('(')?;
    let inner = part[open + 1..].strip_suffix(')')?;
    let head = part[..open].trim();
    if let Some(key) = head.strip_suffix(" notin") {
        return Some((key.trim().to_string(), inner, true));
    }
    let key = head.strip_suffix(" in")?;
    Some((key.trim().to_string(), inner, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}})
    }

    #[test]
    fn equality_and_sets() {
        let p = pod(json!({"app": "web", "tier": "fe"}));
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web,db)", true),
            ("app notin (web)", false),
            ("tier,app=web", true),
            ("!missing", true),
            ("missing", false),
            ("app=web,tier in (fe)", true),
            ("", true),
        ] {
            assert_eq!(LabelSelector::parse(sel).unwrap().matches(&p), want, "{sel}");
        }
    }

    #[test]
    fn bad_selectors_are_errors() {
        for bad in ["a=b=c", "=x", "a in (x", "!", "a b"] {
            assert!(LabelSelector::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_selector_round_trips_to_string() {
        let sel = LabelSelector::from_object(&json!({"matchLabels": {"app": "web"}}));
        assert_eq!(sel.to_selector_string(), "app=web");
    }
}
