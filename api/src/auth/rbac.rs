//! RBAC authorization over the Roles, ClusterRoles and their bindings in the watch cache,
//! as upstream's RBAC authorizer: a request is allowed when some binding whose subject is the
//! user (or one of its groups) grants a rule matching verb, group, resource and name.

use std::sync::Arc;

use serde_json::Value;

use super::UserInfo;
use crate::cache::WatchCache;
use crate::error::{ApiError, ApiResult};
use crate::request_info::RequestInfo;

/// What is being asked, for resource and non-resource requests alike.
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
    /// Set for non-resource requests (`/api`, `/healthz`, …).
    pub path: Option<&'a str>,
}

/// The RBAC authorizer.
pub struct Authorizer {
    cache: Arc<WatchCache>,
}

fn strings(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let verbs = strings(rule.get("verbs"));
    if !verbs.iter().any(|v| *v == "*" || *v == a.verb) {
        return false;
    }
    if let Some(path) = a.path {
        return strings(rule.get("nonResourceURLs")).iter().any(|u| *u == "*" || *u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p)));
    }
    let groups = strings(rule.get("apiGroups"));
    if !groups.iter().any(|g| *g == "*" || *g == a.group) {
        return false;
    }
    let full = match a.subresource {
        Some(s) => format!("{}/{s}", a.resource),
        None => a.resource.to_string(),
    };
    let resources = strings(rule.get("resources"));
    let resource_ok =
        resources.iter().any(|r| *r == "*" || *r == full || (a.subresource.is_some() && *r == format!("*/{}", a.subresource.unwrap_or_default())));
    if !resource_ok {
        return false;
    }
    let names = strings(rule.get("resourceNames"));
    names.is_empty() || a.name.is_some_and(|n| names.contains(&n))
}

fn subject_matches(subject: &Value, user: &UserInfo, binding_ns: Option<&str>) -> bool {
    let kind = subject.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = subject.get("name").and_then(Value::as_str).unwrap_or("");
    match kind {
        "User" => user.name == name,
        "Group" => user.groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = subject.get("namespace").and_then(Value::as_str).or(binding_ns).unwrap_or("");
            user.name == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

impl Authorizer {
    pub fn new(cache: Arc<WatchCache>) -> Authorizer {
        Authorizer { cache }
    }

    /// Decides a resource request; 403 with upstream's wording when denied.
    pub fn authorize(&self, user: Option<&UserInfo>, info: &RequestInfo) -> ApiResult<()> {
        let a = Attributes {
            verb: info.verb,
            group: &info.group,
            resource: &info.resource,
            subresource: info.subresource.as_deref(),
            namespace: info.namespace.as_deref(),
            name: info.name.as_deref(),
            path: None,
        };
        let anonymous = UserInfo { name: "system:anonymous".into(), uid: String::new(), groups: vec!["system:unauthenticated".into()] };
        let user = user.unwrap_or(&anonymous);
        if self.allows(user, &a) {
            return Ok(());
        }
        let what = match a.subresource {
            Some(s) => format!("{}/{s}", a.resource),
            None => a.resource.to_string(),
        };
        let group = if a.group.is_empty() { "\"\"".to_string() } else { format!("\"{}\"", a.group) };
        let scope = match a.namespace {
            Some(ns) if info.resource != "namespaces" => format!(" in the namespace \"{ns}\""),
            _ => " at the cluster scope".to_string(),
        };
        let named = a.name.map(|n| format!(" \"{n}\"")).unwrap_or_default();
        Err(ApiError::forbidden(format!(
            "{what}{named} is forbidden: User \"{}\" cannot {} resource \"{what}\" in API group {group}{scope}",
            user.name, a.verb
        )))
    }

    /// Whether RBAC grants `a` to `user`.
    pub fn allows(&self, user: &UserInfo, a: &Attributes) -> bool {
        if user.groups.iter().any(|g| g == "system:masters") {
            return true;
        }
        self.rules_for(user, a.namespace).iter().any(|rule| rule_allows(rule, a))
    }

    /// Every rule that applies to `user` in `namespace` (cluster-wide rules included).
    pub fn rules_for(&self, user: &UserInfo, namespace: Option<&str>) -> Vec<Value> {
        let mut rules = Vec::new();
        let (crbs, _) = self.cache.list("/registry/clusterrolebindings/", None);
        for b in crbs {
            if strings_subjects(&b.value).iter().any(|s| subject_matches(s, user, None)) {
                if let Some(role) = b.value.pointer("/roleRef/name").and_then(Value::as_str) {
                    rules.extend(self.role_rules(&format!("/registry/clusterroles/{role}")));
                }
            }
        }
        if let Some(ns) = namespace {
            let (rbs, _) = self.cache.list(&format!("/registry/rolebindings/{ns}/"), None);
            for b in rbs {
                if strings_subjects(&b.value).iter().any(|s| subject_matches(s, user, Some(ns))) {
                    let kind = b.value.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or("");
                    if let Some(role) = b.value.pointer("/roleRef/name").and_then(Value::as_str) {
                        let key = if kind == "ClusterRole" { format!("/registry/clusterroles/{role}") } else { format!("/registry/roles/{ns}/{role}") };
                        rules.extend(self.role_rules(&key));
                    }
                }
            }
        }
        rules
    }

    fn role_rules(&self, key: &str) -> Vec<Value> {
        self.cache.get(key).and_then(|r| r.value.get("rules").and_then(Value::as_array).cloned()).unwrap_or_default()
    }
}

fn strings_subjects(binding: &Value) -> Vec<Value> {
    binding.get("subjects").and_then(Value::as_array).cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_match_verb_group_resource_and_name() {
        let rule = json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"], "resourceNames": []});
        let a = Attributes { verb: "get", group: "", resource: "pods", subresource: None, namespace: Some("x"), name: Some("p"), path: None };
        assert!(rule_allows(&rule, &a));
        assert!(!rule_allows(&rule, &Attributes { verb: "delete", ..a.clone() }));
        assert!(rule_allows(&rule, &Attributes { subresource: Some("log"), ..a.clone() }));
        assert!(!rule_allows(&rule, &Attributes { group: "apps", ..a.clone() }));
        let named = json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "resourceNames": ["q"]});
        assert!(!rule_allows(&named, &a));
    }

    #[test]
    fn service_account_subjects_use_the_binding_namespace() {
        let user = UserInfo::authenticated("system:serviceaccount:ns1:default", "", vec![]);
        assert!(subject_matches(&json!({"kind": "ServiceAccount", "name": "default"}), &user, Some("ns1")));
        assert!(!subject_matches(&json!({"kind": "ServiceAccount", "name": "default", "namespace": "ns2"}), &user, Some("ns1")));
    }
}
