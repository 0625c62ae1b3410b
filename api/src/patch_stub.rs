//! Temporary stand-in for the patch module while it is being written.
use serde_json::Value;
#[derive(Debug, thiserror::Error)]
pub enum PatchError { #[error("strategic merge patch: {0}")] Invalid(String) }
#[derive(Debug)]
pub struct Conflict { pub manager: String, pub field_path: String }
#[derive(Debug, thiserror::Error)]
pub enum ApplyError { #[error("Apply failed with conflicts")] Conflict(Vec<Conflict>), #[error("{0}")] Invalid(String) }
pub fn strategic_merge_patch(_kind: &str, original: &Value, patch: &Value) -> Result<Value, PatchError> {
    let mut o = original.clone(); json_patch::merge(&mut o, patch); Ok(o)
}
pub fn server_side_apply(_kind: &str, live: Option<&Value>, applied: &Value, _m: &str, _f: bool, _now: &str) -> Result<Value, ApplyError> {
    let mut o = live.cloned().unwrap_or(serde_json::json!({})); json_patch::merge(&mut o, applied); Ok(o)
}
pub fn record_update(_kind: &str, _old: Option<&Value>, _new: &mut Value, _m: &str, _now: &str) {}
