//! Content negotiation: which representation the client accepts (plain JSON or a
//! `meta.k8s.io` Table), how a request body is decoded (JSON or YAML), and JSON responses.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// Whether the client asked for `as=Table` (kubectl's human-readable get).
pub fn wants_table(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // kubectl lists Table first and plain JSON as the fallback; honour the first choice.
    accept.split(',').next().is_some_and(|first| first.contains("as=Table") && first.contains("g=meta.k8s.io"))
}

/// Refuses representations we cannot produce (protobuf only, or an unknown `as=`).
pub fn check_acceptable(headers: &HeaderMap) -> ApiResult<()> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let ok = accept.split(',').any(|m| {
        let m = m.trim();
        let base = m.split(';').next().unwrap_or("").trim();
        let json_like = matches!(base, "application/json" | "*/*" | "application/*" | "application/yaml" | "");
        json_like && (!m.contains("as=") || m.contains("as=Table"))
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::not_acceptable(format!("only application/json is served, not {accept:?}")))
    }
}

/// The media type of the request body, without parameters.
pub fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_else(|| "application/json".to_string())
}

/// Decodes a JSON or YAML body into an object; anything else is a clear 4xx.
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    let media = content_type(headers);
    let value: Value = match media.as_str() {
        "application/json" | "" | "*/*" => serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding JSON body: {e}")))?,
        "application/yaml" | "application/x-yaml" | "text/yaml" | "application/apply-patch+yaml" => decode_yaml(body)?,
        // kubectl 1.32+ sends typed objects as protobuf; we store and serve them as JSON.
        "application/vnd.kubernetes.protobuf" => {
            crate::protobuf::decode_body(body).map_err(|e| ApiError::bad_request(format!("error decoding protobuf body: {e}")))?
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    if !value.is_object() {
        return Err(ApiError::bad_request("the request body must be a JSON object"));
    }
    Ok(value)
}

/// Decodes YAML (a superset of JSON) into a JSON value.
pub fn decode_yaml(body: &[u8]) -> ApiResult<Value> {
    serde_yaml::from_slice::<Value>(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML body: {e}")))
}

/// A JSON response with a status code.
pub fn json_response(code: StatusCode, value: &Value) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => raw_json(code, Bytes::from(body)),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

pub fn raw_json(code: StatusCode, body: Bytes) -> Response {
    let mut r = (code, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Adds upstream-style `Warning: 299 - "…"` headers.
pub fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - {:?}", w);
        if let Ok(v) = HeaderValue::from_str(&text) {
            response.headers_mut().append("Warning", v);
        }
    }
    response
}
