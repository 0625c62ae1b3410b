//! The one error type of the HTTP edge. Every failure leaves the server as a Kubernetes
//! `Status` with the right code and reason; internal causes are logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::store::StoreError;

/// A field-level cause inside `Status.details.causes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Upstream's cause type, e.g. `FieldValueRequired`, `FieldValueInvalid`.
    pub kind: String,
    pub message: String,
    pub field: String,
}

/// An API error: the HTTP code, the Status reason and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `details.name`, `details.group`, `details.kind`.
    pub details: Option<Box<(String, String, String)>>,
    pub causes: Vec<Cause>,
    /// `details.retryAfterSeconds`, for 429 and some 5xx.
    pub retry_after_seconds: Option<u32>,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, reason, message: message.into(), details: None, causes: vec![], retry_after_seconds: None }
    }

    pub fn with_details(mut self, group: &str, kind: &str, name: &str) -> ApiError {
        self.details = Some(Box::new((name.to_string(), group.to_string(), kind.to_string())));
        self
    }

    /// `404 NotFound`: `pods "x" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(404, "NotFound", format!("{} \"{name}\" not found", qualified(group, resource))).with_details(group, resource, name)
    }

    /// `409 AlreadyExists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(409, "AlreadyExists", format!("{} \"{name}\" already exists", qualified(group, resource))).with_details(group, resource, name)
    }

    /// `409 Conflict` for a stale resourceVersion, worded as upstream.
    pub fn conflict(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(group, resource)
            ),
        )
        .with_details(group, resource, name)
    }

    /// `422 Invalid` with field causes: `Pod "x" is invalid: spec.containers: Required value`.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> ApiError {
        let list: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
        let message =
            if list.len() == 1 { format!("{kind} \"{name}\" is invalid: {}", list[0]) } else { format!("{kind} \"{name}\" is invalid: [{}]", list.join(", ")) };
        let mut e = ApiError::new(422, "Invalid", message).with_details(group, kind, name);
        e.causes = causes;
        e
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, "Forbidden", message)
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized")
    }

    /// `410 Expired`, for a resourceVersion older than the retained history.
    pub fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    pub fn method_not_allowed(verb: &str) -> ApiError {
        ApiError::new(405, "MethodNotAllowed", format!("the server does not allow this method on the requested resource ({verb})"))
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(413, "RequestEntityTooLarge", format!("request body exceeds the limit of {limit} bytes"))
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml; got {content_type:?}"))
    }

    pub fn not_acceptable(message: impl Into<String>) -> ApiError {
        ApiError::new(406, "NotAcceptable", message)
    }

    pub fn timeout(message: impl Into<String>) -> ApiError {
        ApiError::new(504, "Timeout", message)
    }

    /// A 500 whose cause is logged here and hidden from the client.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(cause = %cause, "internal error");
        ApiError::new(500, "InternalError", "an internal error occurred; see the server log")
    }

    /// The Status object for this error.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.details.is_some() || !self.causes.is_empty() || self.retry_after_seconds.is_some() {
            let mut details = serde_json::Map::new();
            if let Some((name, group, kind)) = self.details.as_deref() {
                details.insert("name".into(), json!(name));
                if !group.is_empty() {
                    details.insert("group".into(), json!(group));
                }
                details.insert("kind".into(), json!(kind));
            }
            if !self.causes.is_empty() {
                let causes: Vec<Value> = self.causes.iter().map(|c| json!({"reason": c.kind, "message": c.message, "field": c.field})).collect();
                details.insert("causes".into(), json!(causes));
            }
            if let Some(s) = self.retry_after_seconds {
                details.insert("retryAfterSeconds".into(), json!(s));
            }
            status["details"] = Value::Object(details);
        }
        status
    }
}

fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.status()).unwrap_or_default();
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (code, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Compacted { requested, .. } => ApiError::expired(format!("too old resource version: {requested}")),
            StoreError::FutureRevision { requested, current } => ApiError::timeout(format!("Too large resource version: {requested}, current: {current}")),
            StoreError::WatchLagged => ApiError::expired("watch fell behind; relist"),
            other => ApiError::internal(other),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
