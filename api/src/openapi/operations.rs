//! The REST operations of the served kinds, in a neutral form that the Swagger 2.0 and the
//! OpenAPI 3.0 writers both render.
//!
//! Paths, operation ids, actions and the `x-kubernetes-group-version-kind` of each operation
//! follow upstream's conventions, since kubectl reads them: `explain` finds a resource's GVK
//! on the operations of `/api/v1/namespaces/{namespace}/pods`, and the field-validation check
//! looks for a `fieldValidation` query parameter on the PATCH operations of a GVK.

use super::schemas::{gvk, subresource_gvk, Catalog, Gvk, DELETE_OPTIONS, STATUS};
use super::ServedKind;

/// One parameter. Every parameter is a string, integer or boolean scalar.
#[derive(Clone, Copy)]
pub(crate) struct Param {
    pub name: &'static str,
    /// `query` or `path`.
    pub location: &'static str,
    pub ty: &'static str,
    pub required: bool,
    pub description: &'static str,
}

const fn q(name: &'static str, ty: &'static str, description: &'static str) -> Param {
    Param { name, location: "query", ty, required: false, description }
}

const fn p(name: &'static str, description: &'static str) -> Param {
    Param { name, location: "path", ty: "string", required: true, description }
}

const PRETTY: Param = q("pretty", "string", "If 'true', the output is pretty printed.");
const NAME: Param = p("name", "name of the object");
const NAMESPACE: Param = p("namespace", "object name and auth scope, such as for teams and projects");
const DRY_RUN: Param = q("dryRun", "string", "When present, indicates that modifications should not be persisted. The only valid value is 'All'.");
const FIELD_MANAGER: Param = q("fieldManager", "string", "Name of the actor making the change; at most 128 printable characters. Required for apply patches.");
/// The parameter whose presence tells kubectl the server validates fields itself.
pub(crate) const FIELD_VALIDATION: Param = q(
    "fieldValidation",
    "string",
    "How the server treats fields of the request object it does not know, or gives twice: 'Ignore' drops them silently, 'Warn' drops them and answers with a warning for each (the default), 'Strict' fails the request listing them all.",
);
const FORCE: Param = q("force", "boolean", "Force an apply patch to take ownership of conflicting fields. Only for apply requests.");
const LIST: &[Param] = &[
    q("allowWatchBookmarks", "boolean", "Ask for BOOKMARK watch events. Ignored for lists."),
    q("continue", "string", "The continue token of a previous, limited list call."),
    q("fieldSelector", "string", "Restrict the list to objects whose fields match this selector."),
    q("labelSelector", "string", "Restrict the list to objects whose labels match this selector."),
    q("limit", "integer", "Largest number of objects to return; more are announced by a continue token."),
    q("resourceVersion", "string", "Which version of the collection to serve; see resourceVersionMatch."),
    q("resourceVersionMatch", "string", "How resourceVersion is applied: 'Exact' or 'NotOlderThan'."),
    q("sendInitialEvents", "boolean", "With watch=true, start the watch with synthetic ADDED events for the current state."),
    q("timeoutSeconds", "integer", "Timeout of the list or watch call."),
    q("watch", "boolean", "Watch for changes instead of listing; answers a stream of watch events."),
];
const DELETE: &[Param] = &[
    DRY_RUN,
    q("gracePeriodSeconds", "integer", "Seconds before the object is deleted; 0 deletes at once."),
    q("orphanDependents", "boolean", "Deprecated: use propagationPolicy. Whether dependents are orphaned."),
    q("propagationPolicy", "string", "Garbage collection of dependents: 'Orphan', 'Background' or 'Foreground'."),
];
const LOG: &[Param] = &[
    q("container", "string", "The container whose log to stream; may be left out for single-container pods."),
    q("follow", "boolean", "Follow the log stream."),
    q("limitBytes", "integer", "Stop after this many bytes."),
    q("previous", "boolean", "Return the log of the previous, terminated container instance."),
    q("sinceSeconds", "integer", "Only lines newer than this many seconds."),
    q("tailLines", "integer", "Only this many lines from the end of the log."),
    q("timestamps", "boolean", "Prefix every line with an RFC3339 timestamp."),
];
const EXEC: &[Param] = &[
    q("command", "string", "The command to run, one argument per repetition of the parameter."),
    q("container", "string", "The container to run it in."),
    q("stderr", "boolean", "Redirect the standard error stream."),
    q("stdin", "boolean", "Redirect the standard input stream."),
    q("stdout", "boolean", "Redirect the standard output stream."),
    q("tty", "boolean", "Allocate a terminal."),
];
const PORTS: &[Param] = &[q("ports", "integer", "Ports to forward.")];

/// The media types a PATCH accepts (built-in kinds take strategic merge patches).
pub(crate) const PATCH_TYPES: &[&str] =
    &["application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json", "application/apply-patch+yaml"];

/// What an operation takes as its body.
#[derive(Clone)]
pub(crate) enum Body {
    None,
    /// An object of this definition.
    Def(String),
    /// A patch document, of any of [`PATCH_TYPES`].
    Patch,
}

/// What a response carries.
#[derive(Clone)]
pub(crate) enum Resp {
    Def(String),
    /// Plain text (logs, streams).
    Text,
}

pub(crate) struct Operation {
    pub method: &'static str,
    pub id: String,
    pub tag: String,
    pub description: String,
    pub action: &'static str,
    pub gvk: Gvk,
    pub params: Vec<Param>,
    pub body: Body,
    pub responses: Vec<(u16, Resp)>,
}

pub(crate) struct PathEntry {
    pub path: String,
    pub params: Vec<Param>,
    pub ops: Vec<Operation>,
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub(crate) fn gv_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `CoreV1`, `AppsV1`, `RbacAuthorizationV1`: upstream's operation-id infix.
fn id_infix(group: &str, version: &str) -> String {
    let g = group.strip_suffix(".k8s.io").unwrap_or(group);
    let g: String = if g.is_empty() { "Core".into() } else { g.split('.').map(upper_first).collect() };
    format!("{g}{}", upper_first(version))
}

fn tag(group: &str, version: &str) -> String {
    let g = group.strip_suffix(".k8s.io").unwrap_or(group);
    let mut parts = g.split('.');
    let first = parts.next().filter(|s| !s.is_empty()).unwrap_or("core").to_string();
    let g: String = std::iter::once(first).chain(parts.map(upper_first)).collect();
    format!("{g}_{version}")
}

/// All paths of the given kinds, in a stable order.
pub(crate) fn paths(kinds: &[&ServedKind], catalog: &Catalog) -> Vec<PathEntry> {
    let mut out: Vec<PathEntry> = Vec::new();
    for k in kinds {
        add_kind(&mut out, k, catalog);
    }
    out
}

fn def_or_status(catalog: &Catalog, g: &Gvk) -> String {
    catalog.def_for(g).unwrap_or(STATUS).to_string()
}

fn add_kind(out: &mut Vec<PathEntry>, k: &ServedKind, catalog: &Catalog) {
    let g = gvk(k.group, k.version, k.kind);
    let Some(def) = catalog.def_for(&g).map(str::to_string) else {
        return;
    };
    let list_def = catalog.def_for(&gvk(k.group, k.version, &format!("{}List", k.kind))).map(str::to_string);
    let prefix = gv_prefix(k.group, k.version);
    let infix = id_infix(k.group, k.version);
    let ns = if k.namespaced { "Namespaced" } else { "" };
    let tag = tag(k.group, k.version);
    let has = |v: &str| k.verbs.contains(&v);
    let collection = if k.namespaced { format!("{prefix}/namespaces/{{namespace}}/{}", k.plural) } else { format!("{prefix}/{}", k.plural) };
    let scope: Vec<Param> = if k.namespaced { vec![NAMESPACE, PRETTY] } else { vec![PRETTY] };
    let item_scope: Vec<Param> = if k.namespaced { vec![NAME, NAMESPACE, PRETTY] } else { vec![NAME, PRETTY] };
    let op = |method, verb: &str, suffix: &str, action, og: &Gvk, params: Vec<Param>, body, responses| Operation {
        method,
        id: format!("{verb}{infix}{suffix}"),
        tag: tag.clone(),
        description: describe(verb, &og.2, suffix),
        action,
        gvk: og.clone(),
        params,
        body,
        responses,
    };
    let write = || vec![DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION];
    let patch = || vec![DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION, FORCE];
    let obj = |d: &str| Resp::Def(d.to_string());

    let mut ops = Vec::new();
    if has("list") {
        let resp = list_def.clone().unwrap_or_else(|| def.clone());
        ops.push(op("get", "list", &format!("{ns}{}", k.kind), "list", &g, LIST.to_vec(), Body::None, vec![(200, obj(&resp))]));
    }
    if has("create") {
        ops.push(op(
            "post",
            "create",
            &format!("{ns}{}", k.kind),
            "post",
            &g,
            write(),
            Body::Def(def.clone()),
            vec![(200, obj(&def)), (201, obj(&def)), (202, obj(&def))],
        ));
    }
    if has("deletecollection") {
        let mut params = DELETE.to_vec();
        params.extend_from_slice(LIST);
        ops.push(op(
            "delete",
            "delete",
            &format!("Collection{ns}{}", k.kind),
            "deletecollection",
            &g,
            params,
            Body::Def(DELETE_OPTIONS.into()),
            vec![(200, obj(STATUS))],
        ));
    }
    push(out, collection.clone(), scope, ops);

    if k.namespaced && has("list") {
        let resp = list_def.unwrap_or_else(|| def.clone());
        let ops = vec![op("get", "list", &format!("{}ForAllNamespaces", k.kind), "list", &g, LIST.to_vec(), Body::None, vec![(200, obj(&resp))])];
        push(out, format!("{prefix}/{}", k.plural), vec![PRETTY], ops);
    }

    let item = format!("{collection}/{{name}}");
    let mut ops = Vec::new();
    let suffix = format!("{ns}{}", k.kind);
    if has("get") {
        ops.push(op("get", "read", &suffix, "get", &g, vec![], Body::None, vec![(200, obj(&def))]));
    }
    if has("update") {
        ops.push(op("put", "replace", &suffix, "put", &g, write(), Body::Def(def.clone()), vec![(200, obj(&def)), (201, obj(&def))]));
    }
    if has("patch") {
        ops.push(op("patch", "patch", &suffix, "patch", &g, patch(), Body::Patch, vec![(200, obj(&def)), (201, obj(&def))]));
    }
    if has("delete") {
        ops.push(op("delete", "delete", &suffix, "delete", &g, DELETE.to_vec(), Body::Def(DELETE_OPTIONS.into()), vec![(200, obj(&def)), (202, obj(&def))]));
    }
    if !ops.is_empty() {
        push(out, item.clone(), item_scope.clone(), ops);
    }

    for (name, sub_kind) in &k.subresources {
        let sg = subresource_gvk(&g, sub_kind);
        let sdef = def_or_status(catalog, &sg);
        let suffix = format!("{ns}{}{}", k.kind, upper_first(name));
        let mut ops = Vec::new();
        match *name {
            "status" | "scale" => {
                ops.push(op("get", "read", &suffix, "get", &sg, vec![], Body::None, vec![(200, obj(&sdef))]));
                ops.push(op("put", "replace", &suffix, "put", &sg, write(), Body::Def(sdef.clone()), vec![(200, obj(&sdef)), (201, obj(&sdef))]));
                ops.push(op("patch", "patch", &suffix, "patch", &sg, patch(), Body::Patch, vec![(200, obj(&sdef)), (201, obj(&sdef))]));
            }
            "finalize" => {
                ops.push(op("put", "replace", &suffix, "put", &sg, write(), Body::Def(sdef.clone()), vec![(200, obj(&sdef)), (201, obj(&sdef))]));
            }
            "log" => {
                ops.push(op("get", "read", &suffix, "get", &sg, LOG.to_vec(), Body::None, vec![(200, Resp::Text)]));
            }
            "exec" | "attach" | "portforward" | "proxy" => {
                let params = match *name {
                    "portforward" => PORTS.to_vec(),
                    "proxy" => vec![],
                    _ => EXEC.to_vec(),
                };
                ops.push(op("get", "connect", &format!("Get{suffix}"), "connect", &sg, params.clone(), Body::None, vec![(200, Resp::Text)]));
                ops.push(op("post", "connect", &format!("Post{suffix}"), "connect", &sg, params, Body::None, vec![(200, Resp::Text)]));
            }
            _ => {
                ops.push(op(
                    "post",
                    "create",
                    &suffix,
                    "post",
                    &sg,
                    write(),
                    Body::Def(sdef.clone()),
                    vec![(200, obj(&sdef)), (201, obj(&sdef)), (202, obj(&sdef))],
                ));
            }
        }
        push(out, format!("{item}/{name}"), item_scope.clone(), ops);
    }
}

fn describe(verb: &str, kind: &str, suffix: &str) -> String {
    let what = match verb {
        "list" => "list or watch objects of kind",
        "create" => "create",
        "read" => "read the specified",
        "replace" => "replace the specified",
        "patch" => "partially update the specified",
        "delete" if suffix.starts_with("Collection") => "delete a collection of",
        "delete" => "delete",
        _ => "connect to",
    };
    format!("{what} {kind}")
}

fn push(out: &mut Vec<PathEntry>, path: String, params: Vec<Param>, ops: Vec<Operation>) {
    if ops.is_empty() {
        return;
    }
    match out.iter_mut().find(|e| e.path == path) {
        Some(e) => e.ops.extend(ops),
        None => out.push(PathEntry { path, params, ops }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_follows_upstream() {
        assert_eq!(id_infix("", "v1"), "CoreV1");
        assert_eq!(id_infix("rbac.authorization.k8s.io", "v1"), "RbacAuthorizationV1");
        assert_eq!(id_infix("apps", "v1"), "AppsV1");
        assert_eq!(tag("", "v1"), "core_v1");
        assert_eq!(tag("rbac.authorization.k8s.io", "v1"), "rbacAuthorization_v1");
        assert_eq!(gv_prefix("apps", "v1"), "/apis/apps/v1");
    }
}
