//! Reads: get one object, and list with selectors, paging and resourceVersion semantics.
//!
//! - `resourceVersion` unset: a consistent read. Lists wait for the cache to reach the
//!   store's current revision (as upstream's consistent list from cache); gets read the store.
//! - `resourceVersion=0`: whatever the cache has.
//! - `resourceVersion=N` (NotOlderThan): the cache once it has reached N.
//! - `resourceVersionMatch=Exact` and `continue`: the store, at that revision.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};

use super::negotiate::{check_acceptable, json_response, raw_json, wants_table};
use super::{Ctx, SharedState};
use crate::cache::CachedObject;
use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::selectors::field::FieldSelector;
use crate::selectors::label::LabelSelector;
use crate::store::{ListOptions, Revision};
use crate::table::{build_table, IncludeObject};

/// How long a read waits for the cache to catch up to a requested revision.
pub const CACHE_WAIT: Duration = Duration::from_secs(3);

/// Label and field selectors of a request.
pub struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    group: &'static str,
    plural: &'static str,
}

impl Selectors {
    pub fn from_ctx(ctx: &Ctx) -> ApiResult<Selectors> {
        let labels = LabelSelector::parse(ctx.query.label_selector.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse labelSelector: {e}")))?;
        let fields = FieldSelector::parse(ctx.resource.group, ctx.resource.plural, ctx.query.field_selector.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse fieldSelector: {e}")))?;
        Ok(Selectors { labels, fields, group: ctx.resource.group, plural: ctx.resource.plural })
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(self.group, self.plural, object)
    }
}

/// Parses an explicit resourceVersion parameter; a non-number is a 400.
pub fn parse_rv(rv: &str) -> ApiResult<Revision> {
    rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}: must be a decimal number")))
}

pub fn now_unix() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// GET of one object.
pub async fn get(state: &SharedState, ctx: &Ctx) -> ApiResult<Response> {
    check_acceptable(&ctx.headers)?;
    let name = ctx.name()?;
    let key = object::key(ctx.resource, ctx.namespace(), name);
    let value = match ctx.query.resource_version.as_deref() {
        Some(rv) => {
            let rv = parse_rv(rv)?;
            if rv > 0 {
                state.cache.wait_for(rv, CACHE_WAIT).await?;
            }
            state.cache.get(&key).map(|o| Value::clone(&o.value))
        }
        None => match state.store.get(&key).await?.0 {
            Some(kv) => Some(object::decode(&kv)?),
            None => None,
        },
    };
    let value = value.ok_or_else(|| ApiError::not_found(ctx.resource.group, ctx.resource.plural, name))?;
    if wants_table(&ctx.headers) {
        let rv = object::meta_str(&value, "resourceVersion").unwrap_or("").to_string();
        let include = IncludeObject::parse(ctx.query.include_object.as_deref());
        let table = build_table(ctx.resource.group, ctx.resource.plural, &[value], include, &rv, None, now_unix(), true);
        return Ok(json_response(StatusCode::OK, &table));
    }
    Ok(json_response(StatusCode::OK, &value))
}

/// The continue token's content, as upstream's: the revision and the last key served.
#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: Revision,
    start: String,
}

fn encode_continue(rv: Revision, last_key: &str) -> String {
    let token = ContinueToken { v: "meta.k8s.io/v1".into(), rv, start: last_key.to_string() };
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_continue(token: &str) -> ApiResult<ContinueToken> {
    let bad = || ApiError::bad_request("continue key is not valid: the token is malformed");
    let bytes = base64::engine::general_purpose::STANDARD.decode(token).map_err(|_| bad())?;
    let t: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if t.v != "meta.k8s.io/v1" {
        return Err(bad());
    }
    Ok(t)
}

/// A list result before encoding: objects as parsed values plus their encoded JSON.
pub struct Listed {
    pub items: Vec<Arc<CachedObject>>,
    pub revision: Revision,
    pub continue_token: Option<String>,
}

/// Lists objects of the request's resource, honouring selectors, paging and resourceVersion.
pub async fn list_objects(state: &SharedState, ctx: &Ctx) -> ApiResult<Listed> {
    let selectors = Selectors::from_ctx(ctx)?;
    let prefix = object::list_prefix(ctx.resource, ctx.namespace());
    let limit = ctx.query.limit;
    let exact = ctx.query.resource_version_match.as_deref() == Some("Exact");
    if let Some(m) = ctx.query.resource_version_match.as_deref() {
        if !matches!(m, "Exact" | "NotOlderThan") {
            return Err(ApiError::bad_request(format!("unsupported resourceVersionMatch {m:?}")));
        }
        if ctx.query.resource_version.is_none() {
            return Err(ApiError::bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided"));
        }
    }
    let from_store = match (&ctx.query.continue_token, exact) {
        (Some(token), _) => {
            if ctx.query.resource_version.as_deref().is_some_and(|rv| rv != "0") {
                return Err(ApiError::bad_request("specifying resource version is not allowed when using continue"));
            }
            let t = decode_continue(token)?;
            Some((t.rv, Some(t.start)))
        }
        (None, true) => Some((parse_rv(ctx.query.resource_version.as_deref().unwrap_or("0"))?, None)),
        (None, false) => None,
    };
    if let Some((rv, start_after)) = from_store {
        return list_from_store(state, &prefix, rv, start_after, limit, &selectors).await;
    }
    match ctx.query.resource_version.as_deref() {
        None => {
            let current = state.store.current_revision().await?;
            state.cache.wait_for(current, CACHE_WAIT).await?;
        }
        Some("0") => {}
        Some(rv) => {
            let rv = parse_rv(rv)?;
            state.cache.wait_for(rv, CACHE_WAIT).await?;
        }
    }
    let (all, revision) = state.cache.list(&prefix, None);
    let mut items = Vec::new();
    let mut continue_token = None;
    for o in all {
        if !selectors.matches(&o.value) {
            continue;
        }
        if limit > 0 && items.len() == limit {
            let last: &Arc<CachedObject> = items.last().expect("limit > 0");
            continue_token = Some(encode_continue(revision, &last.key));
            break;
        }
        items.push(o);
    }
    Ok(Listed { items, revision, continue_token })
}

async fn list_from_store(
    state: &SharedState,
    prefix: &str,
    revision: Revision,
    mut start_after: Option<String>,
    limit: usize,
    selectors: &Selectors,
) -> ApiResult<Listed> {
    let mut items = Vec::new();
    let at = if revision == 0 { None } else { Some(revision) };
    loop {
        let page_size = if limit == 0 { 0 } else { (limit - items.len()).max(1) + 1 };
        let page = state.store.list(prefix, ListOptions { start_after: start_after.clone(), limit: page_size, revision: at }).await.map_err(|e| match e {
            crate::store::StoreError::Compacted { .. } => ApiError::expired(
                "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
            ),
            other => other.into(),
        })?;
        let revision = page.revision;
        let mut cut = false;
        for kv in &page.items {
            let value = object::decode(kv)?;
            if !selectors.matches(&value) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                cut = true;
                break;
            }
            items.push(Arc::new(CachedObject::from_value(kv.key.clone(), Arc::new(value), kv.mod_revision)));
        }
        start_after = page.items.last().map(|kv| kv.key.clone());
        if cut || (limit > 0 && items.len() == limit && page.more) {
            let last: &Arc<CachedObject> = items.last().expect("limit > 0");
            let token = encode_continue(revision, &last.key);
            return Ok(Listed { items, revision, continue_token: Some(token) });
        }
        if !page.more {
            return Ok(Listed { items, revision, continue_token: None });
        }
    }
}

/// LIST.
pub async fn list(state: &SharedState, ctx: &Ctx) -> ApiResult<Response> {
    check_acceptable(&ctx.headers)?;
    let listed = list_objects(state, ctx).await?;
    if wants_table(&ctx.headers) {
        let values: Vec<Value> = listed.items.iter().map(|o| Value::clone(&o.value)).collect();
        let include = IncludeObject::parse(ctx.query.include_object.as_deref());
        let table = build_table(
            ctx.resource.group,
            ctx.resource.plural,
            &values,
            include,
            &listed.revision.to_string(),
            listed.continue_token.as_deref(),
            now_unix(),
            true,
        );
        return Ok(json_response(StatusCode::OK, &table));
    }
    Ok(raw_json(StatusCode::OK, encode_list(ctx, &listed)))
}

/// Writes `{"kind":"XList",…,"items":[…]}` by splicing each object's cached JSON.
fn encode_list(ctx: &Ctx, listed: &Listed) -> Bytes {
    let mut metadata = json!({"resourceVersion": listed.revision.to_string()});
    if let Some(c) = &listed.continue_token {
        metadata["continue"] = json!(c);
    }
    let head = json!({
        "kind": format!("{}List", ctx.resource.kind),
        "apiVersion": ctx.resource.api_version(),
        "metadata": metadata,
    });
    let head = serde_json::to_vec(&head).unwrap_or_default();
    let size: usize = listed.items.iter().map(|o| o.json().len() + 1).sum();
    let mut out = BytesMut::with_capacity(head.len() + size + 16);
    out.put_slice(&head[..head.len() - 1]);
    out.put_slice(b",\"items\":[");
    for (i, o) in listed.items.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(o.json());
    }
    out.put_slice(b"]}");
    out.freeze()
}
