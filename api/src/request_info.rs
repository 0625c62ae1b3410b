//! Parses a request path and method into what is being asked for, as upstream's
//! `RequestInfoFactory` does: group, version, namespace, resource, name, subresource, verb.

use crate::error::{ApiError, ApiResult};

/// What a resource request names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// Upstream's verb: get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: &'static str,
}

/// Subresources of a namespace that are not resources inside it.
const NAMESPACE_SUBRESOURCES: &[&str] = &["status", "finalize"];

/// Parses `/api/v1/...` or `/apis/<group>/<version>/...`; `None` when the path names no resource.
pub fn parse(method: &http::Method, path: &str, watch_param: bool) -> ApiResult<Option<RequestInfo>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Ok(None),
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let mut rest: &[&str] = rest;
    let mut namespace = None;
    if rest[0] == "namespaces" && rest.len() > 1 {
        namespace = Some(rest[1].to_string());
        if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
            rest = &rest[2..];
        }
    }
    if rest.len() > 3 {
        return Err(ApiError::new(404, "NotFound", format!("the server could not find the requested resource ({path})")));
    }
    let resource = rest[0].to_string();
    let name = rest.get(1).map(|s| s.to_string());
    let subresource = rest.get(2).map(|s| s.to_string());
    let verb = match (method.as_str(), name.is_some()) {
        ("GET" | "HEAD", _) if watch_param => "watch",
        ("GET" | "HEAD", true) => "get",
        ("GET" | "HEAD", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        (other, _) => return Err(ApiError::method_not_allowed(other)),
    };
    Ok(Some(RequestInfo { group: group.into(), version: version.into(), namespace, resource, name, subresource, verb }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn info(method: Method, path: &str) -> RequestInfo {
        parse(&method, path, false).unwrap().unwrap()
    }

    #[test]
    fn namespaced_resource_paths() {
        let i = info(Method::GET, "/api/v1/namespaces/ns1/pods/p1/log");
        assert_eq!(
            (i.namespace.as_deref(), i.resource.as_str(), i.name.as_deref(), i.subresource.as_deref(), i.verb),
            (Some("ns1"), "pods", Some("p1"), Some("log"), "get")
        );
        let i = info(Method::GET, "/apis/apps/v1/namespaces/ns1/deployments");
        assert_eq!((i.group.as_str(), i.resource.as_str(), i.verb), ("apps", "deployments", "list"));
    }

    #[test]
    fn namespace_itself_and_its_status() {
        let i = info(Method::GET, "/api/v1/namespaces/ns1");
        assert_eq!((i.resource.as_str(), i.name.as_deref()), ("namespaces", Some("ns1")));
        let i = info(Method::PUT, "/api/v1/namespaces/ns1/finalize");
        assert_eq!((i.resource.as_str(), i.name.as_deref(), i.subresource.as_deref()), ("namespaces", Some("ns1"), Some("finalize")));
    }

    #[test]
    fn verbs_follow_method_and_name() {
        assert_eq!(info(Method::DELETE, "/api/v1/namespaces/a/pods").verb, "deletecollection");
        assert_eq!(info(Method::DELETE, "/api/v1/namespaces/a/pods/x").verb, "delete");
        assert_eq!(parse(&Method::GET, "/api/v1/pods", true).unwrap().unwrap().verb, "watch");
        assert!(parse(&Method::GET, "/api/v1", false).unwrap().is_none());
        assert!(parse(&Method::GET, "/version", false).unwrap().is_none());
    }
}
