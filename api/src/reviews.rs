//! The create-only review kinds: SelfSubjectAccessReview and SubjectAccessReview (what
//! `kubectl auth can-i` asks), SelfSubjectRulesReview, SelfSubjectReview (`kubectl auth
//! whoami`) and TokenReview. They are answered, never stored.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use crate::auth::rbac::Attributes;
use crate::auth::UserInfo;
use crate::error::{ApiError, ApiResult};
use crate::server::negotiate_json;
use crate::server::{Ctx, SharedState};

fn user_json(u: &UserInfo) -> Value {
    json!({"username": u.name, "uid": u.uid, "groups": u.groups})
}

fn requester(ctx: &Ctx) -> ApiResult<UserInfo> {
    ctx.user.clone().ok_or_else(ApiError::unauthorized)
}

fn decide(state: &SharedState, user: &UserInfo, spec: &Value) -> Value {
    let allowed = if let Some(ra) = spec.get("resourceAttributes") {
        let s = |k: &str| ra.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
        let a = Attributes {
            verb: s("verb").unwrap_or(""),
            group: s("group").unwrap_or(""),
            resource: s("resource").unwrap_or(""),
            subresource: s("subresource"),
            namespace: s("namespace"),
            name: s("name"),
            path: None,
        };
        state.authorizer.allows(user, &a)
    } else if let Some(nra) = spec.get("nonResourceAttributes") {
        let a = Attributes {
            verb: nra.get("verb").and_then(Value::as_str).unwrap_or(""),
            group: "",
            resource: "",
            subresource: None,
            namespace: None,
            name: None,
            path: Some(nra.get("path").and_then(Value::as_str).unwrap_or("")),
        };
        state.authorizer.allows(user, &a)
    } else {
        false
    };
    if allowed {
        json!({"allowed": true, "reason": "RBAC: allowed"})
    } else {
        json!({"allowed": false})
    }
}

/// Answers a review `obj` of the request's kind.
pub async fn create(state: &SharedState, ctx: &Ctx, mut obj: Value) -> ApiResult<Response> {
    let r = ctx.resource;
    obj["apiVersion"] = json!(r.api_version());
    obj["kind"] = json!(r.kind);
    let spec = obj.get("spec").cloned().unwrap_or_else(|| json!({}));
    let status = match r.kind {
        "SelfSubjectAccessReview" => decide(state, &requester(ctx)?, &spec),
        "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            let mut spec = spec.clone();
            if r.kind == "LocalSubjectAccessReview" {
                if let Some(ra) = spec.get_mut("resourceAttributes") {
                    ra["namespace"] = json!(ctx.info.namespace.clone().unwrap_or_default());
                }
            }
            let groups =
                spec.get("groups").and_then(Value::as_array).map(|g| g.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default();
            let name = spec.get("user").and_then(Value::as_str).unwrap_or("");
            let user = UserInfo { name: name.into(), uid: spec.get("uid").and_then(Value::as_str).unwrap_or("").into(), groups };
            decide(state, &user, &spec)
        }
        "SelfSubjectRulesReview" => {
            let user = requester(ctx)?;
            let ns = spec.get("namespace").and_then(Value::as_str);
            let rules = state.authorizer.rules_for(&user, ns);
            let (resource, non_resource): (Vec<Value>, Vec<Value>) = rules.into_iter().partition(|r| r.get("nonResourceURLs").is_none());
            json!({"resourceRules": resource, "nonResourceRules": non_resource, "incomplete": false})
        }
        "SelfSubjectReview" => json!({"userInfo": user_json(&requester(ctx)?)}),
        "TokenReview" => {
            let token = spec.get("token").and_then(Value::as_str).unwrap_or("");
            match state.authenticator.authenticate_token(token) {
                Some(u) => {
                    json!({"authenticated": true, "user": user_json(&u), "audiences": spec.get("audiences").cloned().unwrap_or(json!([]))})
                }
                None => json!({"authenticated": false, "error": "invalid bearer token"}),
            }
        }
        other => return Err(ApiError::method_not_allowed(&format!("create {other}"))),
    };
    obj["status"] = status;
    if obj.get("metadata").is_none() {
        obj["metadata"] = json!({});
    }
    Ok(negotiate_json(StatusCode::CREATED, &obj))
}
