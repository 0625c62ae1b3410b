//! Strategic merge patch and server-side apply for `serde_json::Value` objects.
//!
//! Real `kubectl` (1.27–1.33) talks to the API server with two patch flavours that
//! plain JSON (merge) patch cannot express:
//!
//! * `application/strategic-merge-patch+json` — client-side `kubectl apply`, `set image`,
//!   `edit`, `rollout restart`, `label`, `annotate`, `scale`. Implemented by
//!   [`strategic_merge_patch`], following upstream
//!   `k8s.io/apimachinery/pkg/util/strategicpatch/patch.go` (server-side application only).
//! * `application/apply-patch+yaml` — server-side apply. Implemented by
//!   [`server_side_apply`], following `sigs.k8s.io/structured-merge-diff` and the
//!   field-manager pipeline of `k8s.io/apimachinery/pkg/util/managedfields`. Ordinary
//!   writes must call [`record_update`] so that `metadata.managedFields` stays truthful.
//!
//! Both need per-field metadata of the built-in kinds (merge keys, list types); that lives
//! in [`merge_keys`], generated from the upstream Go types of Kubernetes 1.33.
//!
//! Layout: [`merge_keys`] (schema), [`strategic`] (SMP), [`fieldset`] (FieldsV1 sets),
//! [`typed`] (schema-aware merge/compare/remove walks), [`apply`] (managedFields, SSA).
//! No function here panics on any input; malformed input yields [`PatchError`] or
//! [`ApplyError`].

pub mod apply;
mod created_fields;
pub mod fieldset;
pub mod merge_keys;
pub mod strategic;
pub mod typed;

#[cfg(test)]
mod strategic_tests;

pub use apply::{record_update, record_update_subresource, server_side_apply};
pub use fieldset::{FieldSet, PathElement};
pub use merge_keys::{is_known_kind, lookup, patch_merge_key, FieldMeta, ListType, PatchStrategy, Schema, Shape, TypeRef};
pub use strategic::{strategic_merge_patch, strategic_merge_patch_with};

use std::fmt;

/// Maximum nesting depth accepted by every walk in this module; deeper input is rejected
/// with an error instead of risking stack exhaustion.
pub const MAX_DEPTH: usize = 256;

/// Why a strategic merge patch could not be applied. Messages follow upstream wording so
/// that clients see familiar errors; all of them map to HTTP 422/400 in the handler.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// The original object or the patch is not a JSON object.
    #[error("invalid JSON document: the {0} must be a JSON object")]
    NotAnObject(&'static str),
    /// A `$patch` directive with an unknown value, or one that is not allowed where it
    /// appears (`$patch: merge` on a map).
    #[error("unknown patch type: {directive} in map: {map}")]
    BadDirective {
        /// The directive's value as found in the patch.
        directive: String,
        /// The map that carried it, as compact JSON.
        map: String,
    },
    /// `$patch: merge` used as a list element; upstream has never implemented it.
    #[error("merging lists cannot yet be specified in the patch")]
    MergeListDirective,
    /// An element of a list merged by key lacks the key (in the patch, the live list or a
    /// `$setElementOrder` list).
    #[error("map: {element} does not contain declared merge key: {key}")]
    MissingMergeKey {
        /// The declared merge key.
        key: String,
        /// The offending element, as compact JSON.
        element: String,
    },
    /// A list of objects has `patchStrategy: merge` but no merge key in the schema.
    #[error("cannot merge lists without merge key for {field}")]
    NoMergeKey {
        /// The list field's name.
        field: String,
    },
    /// Elements of a merged list (live and patch together) are of different JSON types.
    #[error("list element types are not identical: {0}")]
    MixedElementTypes(String),
    /// A merged list contains lists.
    #[error("lists of lists are not supported")]
    ListOfLists,
    /// A value has the wrong JSON type where a directive or merge needs a specific one.
    #[error("expected a {expected}, but received a {actual}")]
    WrongType {
        /// The JSON type required.
        expected: &'static str,
        /// The JSON type found.
        actual: &'static str,
    },
    /// `$retainKeys` is not a list, or the patch sets a field the list does not retain.
    #[error("invalid patch format of retainKeys")]
    BadRetainKeys,
    /// A `$setElementOrder/<field>` directive is malformed.
    #[error("invalid patch format of setElementOrder list")]
    BadSetElementOrder,
    /// The patch list's order contradicts its `$setElementOrder` list.
    #[error("the order in patch list {patch} doesn't match $setElementOrder list {order}")]
    SetElementOrderMismatch {
        /// The patch list, as compact JSON.
        patch: String,
        /// The order list, as compact JSON.
        order: String,
    },
    /// A `$deleteFromPrimitiveList` key without a `/<field>` suffix.
    #[error("invalid patch format of primitive list")]
    BadPrimitiveList,
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("document is nested more than {MAX_DEPTH} levels deep")]
    TooDeep,
}

/// Why a server-side apply was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// Fields in the applied configuration are owned by other managers and would change;
    /// send HTTP 409 with one `FieldManagerConflict` cause per entry.
    #[error("{}", conflict_message(.0))]
    Conflict(Vec<Conflict>),
    /// The applied configuration is unusable (not an object, `kind` mismatch, missing
    /// `apiVersion`, `metadata.managedFields` set, list element without its key…); HTTP 400.
    #[error("{0}")]
    BadRequest(String),
    /// The live object's `metadata.managedFields` cannot be decoded; HTTP 500 upstream.
    #[error("failed to decode managed fields: {0}")]
    InvalidManagedFields(String),
}

/// One conflicting field of a server-side apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name (`kubectl-client-side-apply`, `kube-controller-manager`…).
    pub manager: String,
    /// Its operation, `Apply` or `Update`.
    pub operation: String,
    /// The API version its entry was recorded with.
    pub api_version: String,
    /// Its subresource (`status`, `scale`), empty for the main resource.
    pub subresource: String,
    /// The field, in upstream's path notation: `.spec.replicas`,
    /// `.spec.template.spec.containers[name="nginx"].image`.
    pub field_path: String,
}

impl fmt::Display for Conflict {
    /// The `message` of the upstream `StatusCause`, e.g. `conflict with "kubectl" using apps/v1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conflict with {}", self.who())
    }
}

impl Conflict {
    fn who(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == "Update" {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }
}

/// Upstream's conflict message (`getConflictMessage` in managedfields/internal/conflict.go).
fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {}: {}", c.who(), c.field_path);
    }
    let mut lines: Vec<String> = Vec::new();
    let mut last: Option<String> = None;
    for c in conflicts {
        let who = c.who();
        if last.as_deref() != Some(who.as_str()) {
            lines.push(format!("conflicts with {who}:"));
            last = Some(who);
        }
        lines.push(format!("- {}", c.field_path));
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// Iterative depth check, so that no recursion below can run away.
pub(crate) fn depth_exceeds(v: &serde_json::Value, max: usize) -> bool {
    use serde_json::Value;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        if d > max {
            return true;
        }
        match v {
            Value::Object(m) => stack.extend(m.values().map(|c| (c, d + 1))),
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
            _ => {}
        }
    }
    false
}

/// JSON type name of a value, for error messages.
pub(crate) fn type_name(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(manager: &str, op: &str, path: &str) -> Conflict {
        Conflict { manager: manager.into(), operation: op.into(), api_version: "apps/v1".into(), subresource: String::new(), field_path: path.into() }
    }

    #[test]
    fn conflict_messages_read_like_upstream() {
        let one = ApplyError::Conflict(vec![c("kubectl-client-side-apply", "Update", ".spec.replicas")]);
        assert_eq!(one.to_string(), "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas");
        let two = ApplyError::Conflict(vec![c("a", "Apply", ".x"), c("a", "Apply", ".y"), c("b", "Update", ".z")]);
        assert_eq!(two.to_string(), "Apply failed with 3 conflicts: conflicts with \"a\":\n- .x\n- .y\nconflicts with \"b\" using apps/v1:\n- .z");
        assert_eq!(c("b", "Update", ".z").to_string(), "conflict with \"b\" using apps/v1");
    }
}
