//! Core-group printers built on resource quantities: upstream's printPersistentVolume,
//! printPersistentVolumeClaim and printResourceQuota.

use serde_json::Value;

use super::docs;
use super::quantity::quantity_string;
use super::util::{arr, deleting, get, name, str_at, Ctx};
use super::{Column, ColumnsFn, Printer, Row, RowFn};

pub(crate) fn printer(plural: &str) -> Option<Printer> {
    let (columns, row): (ColumnsFn, RowFn) = match plural {
        "persistentvolumes" => (pv_columns, pv_row),
        "persistentvolumeclaims" => (pvc_columns, pvc_row),
        "resourcequotas" => (resource_quota_columns, resource_quota_row),
        _ => return None,
    };
    Some(Printer { columns, row })
}

/// `helper.GetAccessModesAsString`: the distinct modes in a fixed order.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
        .iter()
        .filter(|(mode, _)| has(mode))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
}

/// The beta storage-class annotation, which wins over `spec.storageClassName`.
fn storage_class(obj: &Value) -> &str {
    get(obj, &["metadata", "annotations", "volume.beta.kubernetes.io/storage-class"])
        .and_then(Value::as_str)
        .unwrap_or_else(|| str_at(obj, &["spec", "storageClassName"]))
}

/// A string pointer field, `<unset>` when nil.
fn or_unset(obj: &Value, path: &[&str]) -> String {
    get(obj, path).and_then(Value::as_str).unwrap_or("<unset>").to_string()
}

fn pv_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Capacity", docs::PV_SPEC_CAPACITY),
        Column::string("Access Modes", docs::PV_SPEC_ACCESS_MODES),
        Column::string("Reclaim Policy", docs::PV_SPEC_RECLAIM_POLICY),
        Column::string("Status", docs::PV_STATUS_PHASE),
        Column::string("Claim", docs::PV_SPEC_CLAIM_REF),
        Column::string("StorageClass", "StorageClass of the pv"),
        Column::string("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
        Column::string("Reason", docs::PV_STATUS_REASON),
        Column::age(),
        Column::string("VolumeMode", docs::PV_SPEC_VOLUME_MODE).wide(),
    ]
}

fn pv_row(pv: &Value, ctx: &Ctx) -> Row {
    let claim = match get(pv, &["spec", "claimRef"]) {
        Some(r) => format!("{}/{}", str_at(r, &["namespace"]), str_at(r, &["name"])),
        None => String::new(),
    };
    // Defaults: reclaim policy Retain, phase Pending, volume mode Filesystem.
    let reclaim = match str_at(pv, &["spec", "persistentVolumeReclaimPolicy"]) {
        "" => "Retain",
        policy => policy,
    };
    let phase = match (deleting(pv), str_at(pv, &["status", "phase"])) {
        (true, _) => "Terminating",
        (false, "") => "Pending",
        (false, phase) => phase,
    };
    let volume_mode = get(pv, &["spec", "volumeMode"]).and_then(Value::as_str).unwrap_or("Filesystem");
    Row::new(vec![
        name(pv).into(),
        quantity_string(get(pv, &["spec", "capacity", "storage"])).into(),
        access_modes(arr(pv, &["spec", "accessModes"])).into(),
        reclaim.into(),
        phase.into(),
        claim.into(),
        storage_class(pv).into(),
        or_unset(pv, &["spec", "volumeAttributesClassName"]).into(),
        str_at(pv, &["status", "reason"]).into(),
        ctx.age(pv),
        volume_mode.into(),
    ])
}

fn pvc_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Status", docs::PVC_STATUS_PHASE),
        Column::string("Volume", docs::PVC_SPEC_VOLUME_NAME),
        Column::string("Capacity", docs::PVC_STATUS_CAPACITY),
        Column::string("Access Modes", docs::PVC_STATUS_ACCESS_MODES),
        Column::string("StorageClass", "StorageClass of the pvc"),
        Column::string("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
        Column::age(),
        Column::string("VolumeMode", docs::PVC_SPEC_VOLUME_MODE).wide(),
    ]
}

fn pvc_row(pvc: &Value, ctx: &Ctx) -> Row {
    let phase = match (deleting(pvc), str_at(pvc, &["status", "phase"])) {
        (true, _) => "Terminating",
        (false, "") => "Pending",
        (false, phase) => phase,
    };
    let volume = str_at(pvc, &["spec", "volumeName"]);
    // Capacity and access modes are only shown once the claim is bound to a volume.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (quantity_string(get(pvc, &["status", "capacity", "storage"])), access_modes(arr(pvc, &["status", "accessModes"])))
    };
    let class = get(pvc, &["metadata", "annotations", "volume.beta.kubernetes.io/storage-class"])
        .and_then(Value::as_str)
        .unwrap_or_else(|| str_at(pvc, &["spec", "storageClassName"]));
    let volume_mode = get(pvc, &["spec", "volumeMode"]).and_then(Value::as_str).unwrap_or("Filesystem");
    Row::new(vec![
        name(pvc).into(),
        phase.into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        class.into(),
        or_unset(pvc, &["spec", "volumeAttributesClassName"]).into(),
        ctx.age(pvc),
        volume_mode.into(),
    ])
}

fn resource_quota_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Request", "Request represents a minimum amount of cpu/memory that a container may consume."),
        Column::string("Limit", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
        Column::age(),
    ]
}

fn resource_quota_row(quota: &Value, ctx: &Ctx) -> Row {
    let hard = get(quota, &["status", "hard"]).and_then(Value::as_object);
    let mut resources: Vec<&String> = hard.map(|h| h.keys().collect()).unwrap_or_default();
    resources.sort();
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    for resource in resources {
        let used = quantity_string(get(quota, &["status", "used", resource.as_str()]));
        let limit = quantity_string(hard.and_then(|h| h.get(resource.as_str())));
        let entry = format!("{resource}: {used}/{limit}");
        let mut pieces = resource.split('.');
        if pieces.next() == Some("limits") && pieces.next().is_some() {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    Row::new(vec![name(quota).into(), requests.join(", ").into(), limits.join(", ").into(), ctx.age(quota)])
}

// Expectations from upstream's pkg/printers/internalversion/printers_test.go
// (TestPrintPersistentVolume, TestPrintPersistentVolumeClaim, TestPrintResourceQuota).
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cells(row: RowFn, obj: Value) -> Vec<Value> {
        row(&obj, &Ctx::new(1_700_000_000)).cells
    }

    fn v(x: Value) -> Vec<Value> {
        x.as_array().unwrap().clone()
    }

    #[test]
    fn volumes() {
        let pvc = json!({"metadata": {"name": "test4"}, "spec": {"volumeName": "my-volume",
            "storageClassName": "my-scn", "volumeMode": "Filesystem"},
            "status": {"phase": "Pending", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}});
        assert_eq!(cells(pvc_row, pvc), v(json!(["test4", "Pending", "my-volume", "10Gi", "RWO", "my-scn", "<unset>", "<unknown>", "Filesystem"])));
        let lost = json!({"metadata": {"name": "test2"}, "spec": {"volumeMode": "Filesystem"},
            "status": {"phase": "Lost", "capacity": {"storage": "4Gi"}}});
        assert_eq!(cells(pvc_row, lost), v(json!(["test2", "Lost", "", "", "", "", "<unset>", "<unknown>", "Filesystem"])));

        let pv = json!({"metadata": {"name": "pv1", "deletionTimestamp": "2023-11-14T22:00:00Z"},
            "spec": {"capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
                     "claimRef": {"namespace": "ns", "name": "claim"}, "storageClassName": "fast",
                     "volumeAttributesClassName": "gold"},
            "status": {"phase": "Bound", "reason": "r"}});
        assert_eq!(cells(pv_row, pv), v(json!(["pv1", "1Gi", "RWO,RWX", "Retain", "Terminating", "ns/claim", "fast", "gold", "r", "<unknown>", "Filesystem"])));
    }

    #[test]
    fn resource_quota() {
        let q = json!({"metadata": {"name": "q"}, "status": {
            "hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2000m"},
            "used": {"pods": "3", "requests.cpu": "500m", "limits.memory": "1024Mi"}}});
        assert_eq!(cells(resource_quota_row, q), v(json!(["q", "pods: 3/10, requests.cpu: 500m/1", "limits.cpu: 0/2, limits.memory: 1Gi/2Gi", "<unknown>"])));
    }
}
