//! The query parameters of resource requests, parsed once and validated (a bad value is a
//! 400, never a 500).

use crate::error::{ApiError, ApiResult};

/// Query parameters that resource handlers read.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub watch: bool,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
    pub limit: usize,
    pub continue_token: Option<String>,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub allow_watch_bookmarks: bool,
    pub send_initial_events: Option<bool>,
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: Option<String>,
    pub force: bool,
    pub include_object: Option<String>,
    pub propagation_policy: Option<String>,
    pub grace_period_seconds: Option<i64>,
    /// Everything, for subresources (log, exec) that read their own parameters.
    pub raw: Vec<(String, String)>,
}

fn parse_bool(name: &str, value: &str) -> ApiResult<bool> {
    match value {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::bad_request(format!("invalid value {value:?} for {name}: want true or false"))),
    }
}

fn parse_number<T: std::str::FromStr>(name: &str, value: &str) -> ApiResult<T> {
    value.parse().map_err(|_| ApiError::bad_request(format!("invalid value {value:?} for {name}: want a number")))
}

impl Query {
    pub fn parse(raw: Option<&str>) -> ApiResult<Query> {
        let pairs: Vec<(String, String)> = match raw {
            None => vec![],
            Some(q) => serde_urlencoded::from_str(q).map_err(|e| ApiError::bad_request(format!("malformed query: {e}")))?,
        };
        let mut q = Query::default();
        for (k, v) in &pairs {
            match k.as_str() {
                "watch" => q.watch = parse_bool(k, v)?,
                "resourceVersion" => q.resource_version = Some(v.clone()).filter(|s| !s.is_empty()),
                "resourceVersionMatch" => q.resource_version_match = Some(v.clone()).filter(|s| !s.is_empty()),
                "limit" => q.limit = parse_number::<i64>(k, v)?.max(0) as usize,
                "continue" => q.continue_token = Some(v.clone()).filter(|s| !s.is_empty()),
                "labelSelector" => q.label_selector = Some(v.clone()),
                "fieldSelector" => q.field_selector = Some(v.clone()),
                "timeoutSeconds" => q.timeout_seconds = Some(parse_number(k, v)?),
                "allowWatchBookmarks" => q.allow_watch_bookmarks = parse_bool(k, v)?,
                "sendInitialEvents" => q.send_initial_events = Some(parse_bool(k, v)?),
                "dryRun" => {
                    if v != "All" {
                        return Err(ApiError::bad_request(format!("unsupported dryRun value {v:?}: only All is supported")));
                    }
                    q.dry_run = true;
                }
                "fieldManager" => q.field_manager = Some(v.clone()),
                "fieldValidation" => {
                    if !matches!(v.as_str(), "Strict" | "Warn" | "Ignore" | "") {
                        return Err(ApiError::bad_request(format!("fieldValidation must be one of Strict, Warn or Ignore, got {v:?}")));
                    }
                    q.field_validation = Some(v.clone()).filter(|s| !s.is_empty());
                }
                "force" => q.force = parse_bool(k, v)?,
                "includeObject" => q.include_object = Some(v.clone()),
                "propagationPolicy" => q.propagation_policy = Some(v.clone()),
                "gracePeriodSeconds" => q.grace_period_seconds = Some(parse_number(k, v)?),
                _ => {}
            }
        }
        q.raw = pairs;
        Ok(q)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}
