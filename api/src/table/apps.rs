//! Printers of the `apps` group: upstream's printDeployment, printReplicaSet, printStatefulSet,
//! printDaemonSet and printControllerRevision; also the core group's printReplicationController,
//! the ancestor of the ReplicaSet.

use serde_json::Value;

use super::docs;
use super::util::{arr, container_cells, format_label_selector, format_labels, get, int_at, label_selector, name, opt_int, str_at, Ctx};
use super::{Column, ColumnsFn, Printer, Row, RowFn};

pub(crate) fn printer(plural: &str) -> Option<Printer> {
    let (columns, row): (ColumnsFn, RowFn) = match plural {
        "deployments" => (deployment_columns, deployment_row),
        "replicasets" => (replica_set_columns, replica_set_row),
        "statefulsets" => (stateful_set_columns, stateful_set_row),
        "daemonsets" => (daemon_set_columns, daemon_set_row),
        "controllerrevisions" => (controller_revision_columns, controller_revision_row),
        // Core group, dispatched here from core.rs.
        "replicationcontrollers" => (rc_columns, rc_row),
        _ => return None,
    };
    Some(Printer { columns, row })
}

fn containers_column() -> Column {
    Column::string("Containers", "Names of each container in the template.").wide()
}

fn images_column() -> Column {
    Column::string("Images", "Images referenced by each container in the template.").wide()
}

/// `spec.replicas`, which defaulting sets to 1 when unset.
fn desired_replicas(obj: &Value) -> i64 {
    opt_int(obj, &["spec", "replicas"]).unwrap_or(1)
}

fn template_containers(obj: &Value) -> (Value, Value) {
    container_cells(arr(obj, &["spec", "template", "spec", "containers"]))
}

fn deployment_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Ready", "Number of the pod with ready state"),
        Column::string("Up-to-date", docs::DEPLOYMENT_STATUS_UPDATED),
        Column::string("Available", docs::DEPLOYMENT_STATUS_AVAILABLE),
        Column::age(),
        containers_column(),
        images_column(),
        Column::string("Selector", docs::DEPLOYMENT_SPEC_SELECTOR).wide(),
    ]
}

fn deployment_row(d: &Value, ctx: &Ctx) -> Row {
    let (names, images) = template_containers(d);
    // The deployment printer renders the selector itself: "" when unset, "<invalid>" when bad.
    let selector = label_selector(get(d, &["spec", "selector"])).unwrap_or_else(|()| "<invalid>".to_string());
    Row::new(vec![
        name(d).into(),
        format!("{}/{}", int_at(d, &["status", "readyReplicas"]), desired_replicas(d)).into(),
        int_at(d, &["status", "updatedReplicas"]).into(),
        int_at(d, &["status", "availableReplicas"]).into(),
        ctx.age(d),
        names,
        images,
        selector.into(),
    ])
}

fn replica_set_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::integer("Desired", docs::RS_SPEC_REPLICAS),
        Column::integer("Current", docs::RS_STATUS_REPLICAS),
        Column::integer("Ready", docs::RS_STATUS_READY_REPLICAS),
        Column::age(),
        containers_column(),
        images_column(),
        Column::string("Selector", docs::RS_SPEC_SELECTOR).wide(),
    ]
}

fn replica_set_row(rs: &Value, ctx: &Ctx) -> Row {
    let (names, images) = template_containers(rs);
    Row::new(vec![
        name(rs).into(),
        desired_replicas(rs).into(),
        int_at(rs, &["status", "replicas"]).into(),
        int_at(rs, &["status", "readyReplicas"]).into(),
        ctx.age(rs),
        names,
        images,
        format_label_selector(get(rs, &["spec", "selector"])).into(),
    ])
}

fn rc_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::integer("Desired", docs::RC_SPEC_REPLICAS),
        Column::integer("Current", docs::RC_STATUS_REPLICAS),
        Column::integer("Ready", docs::RC_STATUS_READY_REPLICAS),
        Column::age(),
        Column::string("Containers", "Names of each container in the template.").wide(),
        Column::string("Images", "Images referenced by each container in the template.").wide(),
        Column::string("Selector", docs::RC_SPEC_SELECTOR).wide(),
    ]
}

fn rc_row(rc: &Value, ctx: &Ctx) -> Row {
    // Defaulting sets replicas to 1 when unset.
    let desired = opt_int(rc, &["spec", "replicas"]).unwrap_or(1);
    let (names, images) = container_cells(arr(rc, &["spec", "template", "spec", "containers"]));
    Row::new(vec![
        name(rc).into(),
        desired.into(),
        int_at(rc, &["status", "replicas"]).into(),
        int_at(rc, &["status", "readyReplicas"]).into(),
        ctx.age(rc),
        names,
        images,
        format_labels(get(rc, &["spec", "selector"])).into(),
    ])
}

fn stateful_set_columns() -> Vec<Column> {
    vec![Column::name(), Column::string("Ready", "Number of the pod with ready state"), Column::age(), containers_column(), images_column()]
}

fn stateful_set_row(sts: &Value, ctx: &Ctx) -> Row {
    let (names, images) = template_containers(sts);
    Row::new(vec![name(sts).into(), format!("{}/{}", int_at(sts, &["status", "readyReplicas"]), desired_replicas(sts)).into(), ctx.age(sts), names, images])
}

fn daemon_set_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::integer("Desired", docs::DS_STATUS_DESIRED),
        Column::integer("Current", docs::DS_STATUS_CURRENT),
        Column::integer("Ready", docs::DS_STATUS_READY),
        Column::integer("Up-to-date", docs::DS_STATUS_UPDATED),
        Column::integer("Available", docs::DS_STATUS_AVAILABLE),
        Column::string("Node Selector", docs::POD_SPEC_NODE_SELECTOR),
        Column::age(),
        containers_column(),
        images_column(),
        Column::string("Selector", docs::DS_SPEC_SELECTOR).wide(),
    ]
}

fn daemon_set_row(ds: &Value, ctx: &Ctx) -> Row {
    let (names, images) = template_containers(ds);
    let status = |field: &str| Value::from(int_at(ds, &["status", field]));
    Row::new(vec![
        name(ds).into(),
        status("desiredNumberScheduled"),
        status("currentNumberScheduled"),
        status("numberReady"),
        status("updatedNumberScheduled"),
        status("numberAvailable"),
        format_labels(get(ds, &["spec", "template", "spec", "nodeSelector"])).into(),
        ctx.age(ds),
        names,
        images,
        format_label_selector(get(ds, &["spec", "selector"])).into(),
    ])
}

fn controller_revision_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Controller", "Controller of the object"),
        Column::string("Revision", docs::CONTROLLER_REVISION_REVISION),
        Column::age(),
    ]
}

/// The controller owner reference as `kind.group/name` in lower case (`formatResourceName`).
fn controller_name(obj: &Value) -> String {
    let owner = arr(obj, &["metadata", "ownerReferences"]).iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true));
    let Some(owner) = owner else {
        return "<none>".to_string();
    };
    let api_version = str_at(owner, &["apiVersion"]);
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    let kind = str_at(owner, &["kind"]);
    let owner_name = str_at(owner, &["name"]);
    match (kind, group) {
        ("", "") => owner_name.to_string(),
        (kind, "") => format!("{}/{owner_name}", kind.to_lowercase()),
        (kind, group) => format!("{}.{}/{owner_name}", kind.to_lowercase(), group.to_lowercase()),
    }
}

fn controller_revision_row(rev: &Value, ctx: &Ctx) -> Row {
    Row::new(vec![name(rev).into(), controller_name(rev).into(), int_at(rev, &["revision"]).into(), ctx.age(rev)])
}

// Expectations from upstream's pkg/printers/internalversion/printers_test.go (TestPrintDeployment,
// TestPrintDaemonSet, TestPrintControllerRevision, TestPrintReplicaSet, TestPrintStatefulSet, TestPrintReplicationController).
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SOON: &str = "2023-11-14T22:13:21Z"; // 1s after now: "0s"

    fn cells(row: RowFn, obj: Value) -> Vec<Value> {
        row(&obj, &Ctx::new(1_700_000_000)).cells
    }

    fn v(x: Value) -> Vec<Value> {
        x.as_array().unwrap().clone()
    }

    fn containers() -> Value {
        json!([{"name": "fake-container1", "image": "fake-image1"}, {"name": "fake-container2", "image": "fake-image2"}])
    }

    #[test]
    fn deployment() {
        let d = json!({"metadata": {"name": "test1", "creationTimestamp": SOON},
            "spec": {"replicas": 5, "template": {"spec": {"containers": containers()}},
                     "selector": {"matchLabels": {"foo": "bar"}}},
            "status": {"replicas": 10, "updatedReplicas": 2, "availableReplicas": 1, "unavailableReplicas": 4}});
        assert_eq!(cells(deployment_row, d), v(json!(["test1", "0/5", 2, 1, "0s", "fake-container1,fake-container2", "fake-image1,fake-image2", "foo=bar"])));
        let defaulted = json!({"metadata": {"name": "d"}, "status": {"readyReplicas": 1}});
        assert_eq!(cells(deployment_row, defaulted)[1], "1/1");
        assert_eq!(cells(deployment_row, json!({}))[7], "");
    }

    #[test]
    fn daemon_set() {
        let ds = json!({"metadata": {"name": "test1", "creationTimestamp": SOON},
            "spec": {"template": {"spec": {"containers": containers()}}, "selector": {"matchLabels": {"foo": "bar"}}},
            "status": {"currentNumberScheduled": 2, "desiredNumberScheduled": 3, "numberReady": 1,
                       "updatedNumberScheduled": 2, "numberAvailable": 0}});
        assert_eq!(
            cells(daemon_set_row, ds),
            v(json!(["test1", 3, 2, 1, 2, 0, "<none>", "0s", "fake-container1,fake-container2", "fake-image1,fake-image2", "foo=bar"]))
        );
    }

    #[test]
    fn replica_set_and_stateful_set() {
        let rs = json!({"metadata": {"name": "rs"}, "spec": {"replicas": 5,
            "template": {"spec": {"containers": containers()}}, "selector": {"matchLabels": {"foo": "bar"}}},
            "status": {"replicas": 5, "readyReplicas": 2}});
        assert_eq!(cells(replica_set_row, rs), v(json!(["rs", 5, 5, 2, "<unknown>", "fake-container1,fake-container2", "fake-image1,fake-image2", "foo=bar"])));
        let sts = json!({"metadata": {"name": "sts"}, "spec": {"replicas": 3,
            "template": {"spec": {"containers": containers()}}}, "status": {"readyReplicas": 2}});
        assert_eq!(cells(stateful_set_row, sts), v(json!(["sts", "2/3", "<unknown>", "fake-container1,fake-container2", "fake-image1,fake-image2"])));
        assert_eq!(cells(replica_set_row, json!({}))[7], "<none>");
    }

    #[test]
    fn replication_controller() {
        let rc = json!({"metadata": {"name": "rc1"}, "spec": {"replicas": 5, "selector": {"a": "b"},
            "template": {"spec": {"containers": [{"name": "test", "image": "test_image"}]}}},
            "status": {"replicas": 3, "readyReplicas": 1}});
        assert_eq!(cells(rc_row, rc), v(json!(["rc1", 5, 3, 1, "<unknown>", "test", "test_image", "a=b"])));
    }

    #[test]
    fn controller_revision() {
        let rev = |owners: Value, revision: i64| {
            json!({"metadata": {"name": "test", "creationTimestamp": SOON,
            "ownerReferences": owners}, "revision": revision})
        };
        let ds_owner = json!([{"controller": true, "apiVersion": "apps/v1", "kind": "DaemonSet", "name": "foo"}]);
        assert_eq!(cells(controller_revision_row, rev(ds_owner, 1)), v(json!(["test", "daemonset.apps/foo", 1, "0s"])));
        let not_controller = json!([{"controller": false, "kind": "ABC", "name": "foo"}]);
        assert_eq!(cells(controller_revision_row, rev(not_controller, 2))[1..3], v(json!(["<none>", 2]))[..]);
        assert_eq!(cells(controller_revision_row, rev(json!([]), 3))[1], "<none>");
        assert_eq!(cells(controller_revision_row, rev(json!(null), 4))[1], "<none>");
        let core_owner = json!([{"controller": true, "apiVersion": "v1", "kind": "Pod", "name": "p"}]);
        assert_eq!(cells(controller_revision_row, rev(core_owner, 5))[1], "pod/p");
    }
}
