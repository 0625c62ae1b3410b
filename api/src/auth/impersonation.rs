//! Impersonation (`kubectl --as`, `--as-group`): the `Impersonate-User`, `Impersonate-Group`
//! and `Impersonate-Uid` headers replace the request's user when RBAC grants the
//! authenticated user the `impersonate` verb on them, as upstream's impersonation filter.

use http::HeaderMap;

use super::rbac::{Attributes, Authorizer};
use super::UserInfo;
use crate::error::{ApiError, ApiResult};

/// Applies impersonation headers to `user`; 403 when the user may not impersonate.
pub fn impersonate(authorizer: &Authorizer, user: Option<UserInfo>, headers: &HeaderMap) -> ApiResult<Option<UserInfo>> {
    let Some(target) = headers.get("Impersonate-User").and_then(|v| v.to_str().ok()) else {
        if headers.contains_key("Impersonate-Group") {
            return Err(ApiError::bad_request("requested impersonation of groups without a user"));
        }
        return Ok(user);
    };
    let Some(actor) = user else {
        return Err(ApiError::unauthorized());
    };
    let groups: Vec<String> = headers.get_all("Impersonate-Group").iter().filter_map(|v| v.to_str().ok().map(str::to_string)).collect();
    let uid = headers.get("Impersonate-Uid").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let may = |group: &str, resource: &str, name: &str, namespace: Option<&str>| {
        authorizer.allows(&actor, &Attributes { verb: "impersonate", group, resource, subresource: None, namespace, name: Some(name), path: None })
    };
    let service_account = target.strip_prefix("system:serviceaccount:").and_then(|rest| rest.split_once(':'));
    let allowed_user = match service_account {
        Some((ns, name)) => may("", "serviceaccounts", name, Some(ns)),
        None => may("", "users", target, None),
    };
    if !allowed_user {
        return Err(ApiError::forbidden(format!(
            "users \"{target}\" is forbidden: User \"{}\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope",
            actor.name
        )));
    }
    for g in &groups {
        if !may("", "groups", g, None) {
            return Err(ApiError::forbidden(format!(
                "groups \"{g}\" is forbidden: User \"{}\" cannot impersonate resource \"groups\" in API group \"\" at the cluster scope",
                actor.name
            )));
        }
    }
    let mut all_groups = groups;
    if let Some((ns, _)) = service_account {
        all_groups.push("system:serviceaccounts".into());
        all_groups.push(format!("system:serviceaccounts:{ns}"));
    }
    Ok(Some(UserInfo::authenticated(target, uid, all_groups)))
}
