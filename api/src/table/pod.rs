//! The Pod printer: upstream's `printPod`, whose STATUS column condenses the pod phase, init
//! containers, sidecars, container states and deletion into one word.

use serde_json::{json, Value};

use super::docs;
use super::util::{arr, bool_at, get, int_at, str_at, timestamp, Ctx};
use super::{Column, Row};

pub(crate) fn columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        Column::string("Status", "The aggregate status of the containers in this pod."),
        Column::string("Restarts", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
        Column::age(),
        Column::string("IP", docs::POD_STATUS_POD_IP).wide(),
        Column::string("Node", docs::POD_SPEC_NODE_NAME).wide(),
        Column::string("Nominated Node", docs::POD_STATUS_NOMINATED_NODE_NAME).wide(),
        Column::string("Readiness Gates", docs::POD_SPEC_READINESS_GATES).wide(),
    ]
}

/// `podutil.IsRestartableInitContainer` for the init container a status names; like upstream's
/// map from name to container, the last container of that name wins.
fn is_restartable(init_containers: &[Value], name: &str) -> bool {
    init_containers.iter().rev().find(|c| str_at(c, &["name"]) == name).is_some_and(|c| str_at(c, &["restartPolicy"]) == "Always")
}

/// Whether a condition of `type` is in `conditions` with status True; only the first of that
/// type counts when `first_only` (upstream's `isPodInitializedConditionTrue`).
fn condition_true(conditions: &[Value], ty: &str, first_only: bool) -> bool {
    let mut matching = conditions.iter().filter(|c| str_at(c, &["type"]) == ty);
    if first_only {
        matching.next().is_some_and(|c| str_at(c, &["status"]) == "True")
    } else {
        matching.any(|c| str_at(c, &["status"]) == "True")
    }
}

/// Tracks the latest `lastState.terminated.finishedAt` seen (upstream's `lastRestartDate`).
fn note_restart(latest: &mut Option<i128>, status: &Value) {
    if get(status, &["lastState", "terminated"]).is_some() {
        if let Some(at) = timestamp(status, &["lastState", "terminated", "finishedAt"]) {
            if latest.is_none_or(|l| l < at) {
                *latest = Some(at);
            }
        }
    }
}

/// The reason of a terminated container without one: `Signal:N` or `ExitCode:N`.
fn exit_reason(terminated: &Value) -> String {
    let signal = int_at(terminated, &["signal"]);
    if signal != 0 {
        format!("Signal:{signal}")
    } else {
        format!("ExitCode:{}", int_at(terminated, &["exitCode"]))
    }
}

pub(crate) fn row(pod: &Value, ctx: &Ctx) -> Row {
    let containers = arr(pod, &["spec", "containers"]);
    let init_containers = arr(pod, &["spec", "initContainers"]);
    let conditions = arr(pod, &["status", "conditions"]);
    // The registry sets Pending on create, so a stored pod always has a phase.
    let phase = match str_at(pod, &["status", "phase"]) {
        "" => "Pending",
        phase => phase,
    };

    let mut restarts: i64 = 0;
    let mut restartable_restarts: i64 = 0;
    let total = containers.len() + init_containers.iter().filter(|c| str_at(c, &["restartPolicy"]) == "Always").count();
    let mut ready = 0usize;
    let mut last_restart: Option<i128> = None;
    let mut last_restartable_restart: Option<i128> = None;

    let mut reason = match str_at(pod, &["status", "reason"]) {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    for c in conditions {
        if str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == "SchedulingGated" {
            reason = "SchedulingGated".to_string();
        }
    }

    let conditions_cell = match phase {
        "Succeeded" => Some(json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                                    "message": "The pod has completed successfully."}])),
        "Failed" => Some(json!([{"type": "Completed", "status": "True", "reason": "Failed",
                                 "message": "The pod failed."}])),
        _ => None,
    };

    let mut initializing = false;
    for (i, status) in arr(pod, &["status", "initContainerStatuses"]).iter().enumerate() {
        let count = int_at(status, &["restartCount"]);
        restarts += count;
        note_restart(&mut last_restart, status);
        let restartable = is_restartable(init_containers, str_at(status, &["name"]));
        if restartable {
            restartable_restarts += count;
            note_restart(&mut last_restartable_restart, status);
        }
        let terminated = get(status, &["state", "terminated"]);
        let waiting_reason = str_at(status, &["state", "waiting", "reason"]);
        if terminated.is_some_and(|t| int_at(t, &["exitCode"]) == 0) {
            continue;
        } else if restartable && bool_at(status, &["started"]) {
            if bool_at(status, &["ready"]) {
                ready += 1;
            }
            continue;
        } else if let Some(t) = terminated {
            // Initialization failed.
            reason = match str_at(t, &["reason"]) {
                "" => format!("Init:{}", exit_reason(t)),
                r => format!("Init:{r}"),
            };
        } else if get(status, &["state", "waiting"]).is_some() && !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{}/{}", i, init_containers.len());
        }
        initializing = true;
        break;
    }

    if !initializing || condition_true(conditions, "Initialized", true) {
        restarts = restartable_restarts;
        last_restart = last_restartable_restart;
        let mut has_running = false;
        for status in arr(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts += int_at(status, &["restartCount"]);
            note_restart(&mut last_restart, status);
            let waiting = str_at(status, &["state", "waiting", "reason"]);
            let terminated = get(status, &["state", "terminated"]);
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                reason = match str_at(t, &["reason"]) {
                    "" => exit_reason(t),
                    r => r.to_string(),
                };
            } else if bool_at(status, &["ready"]) && get(status, &["state", "running"]).is_some() {
                has_running = true;
                ready += 1;
            }
        }
        // A pod with a container still running is not "Completed".
        if reason == "Completed" && has_running {
            reason = if condition_true(conditions, "Ready", false) { "Running" } else { "NotReady" }.to_string();
        }
    }

    if get(pod, &["metadata", "deletionTimestamp"]).is_some() {
        if str_at(pod, &["status", "reason"]) == "NodeLost" {
            reason = "Unknown".to_string();
        } else if phase != "Failed" && phase != "Succeeded" {
            reason = "Terminating".to_string();
        }
    }

    let restarts_cell = match last_restart {
        Some(at) if restarts != 0 => format!("{restarts} ({} ago)", ctx.since_nanos(Some(at))),
        _ => restarts.to_string(),
    };

    // podIP wins over podIPs when both are set (the v1 → internal conversion).
    let pod_ip = match str_at(pod, &["status", "podIP"]) {
        "" => arr(pod, &["status", "podIPs"]).first().map_or("", |ip| str_at(ip, &["ip"])),
        ip => ip,
    };
    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s.to_string()
        }
    };
    let gates = arr(pod, &["spec", "readinessGates"]);
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_gates = gates
            .iter()
            .filter(|gate| {
                let ty = str_at(gate, &["conditionType"]);
                conditions.iter().find(|c| str_at(c, &["type"]) == ty).is_some_and(|c| str_at(c, &["status"]) == "True")
            })
            .count();
        format!("{true_gates}/{}", gates.len())
    };

    Row {
        cells: vec![
            str_at(pod, &["metadata", "name"]).into(),
            format!("{ready}/{total}").into(),
            reason.into(),
            restarts_cell.into(),
            ctx.age(pod),
            or_none(pod_ip).into(),
            or_none(str_at(pod, &["spec", "nodeName"])).into(),
            or_none(str_at(pod, &["status", "nominatedNodeName"])).into(),
            readiness_gates.into(),
        ],
        conditions: conditions_cell,
    }
}

// Cases from TestPrintPod, TestPrintPodWithRestartableInitContainer, TestPrintPodwide and
// TestPrintPodConditions in upstream's pkg/printers/internalversion/printers_test.go.
#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    /// A finishedAt `secs` seconds before NOW.
    fn ago(secs: i64) -> String {
        jiff::Timestamp::from_second(NOW - secs).unwrap().to_string()
    }

    fn cells(pod: Value) -> Vec<Value> {
        row(&pod, &Ctx::new(NOW)).cells
    }

    fn first5(pod: Value) -> Vec<Value> {
        cells(pod)[..5].to_vec()
    }

    fn two_containers(status: Value) -> Value {
        json!({"metadata": {"name": "test"}, "spec": {"containers": [{}, {}]}, "status": status})
    }

    #[test]
    fn print_pod() {
        let running = json!({"ready": true, "restartCount": 3, "state": {"running": {}}});
        let p = two_containers(json!({"phase": "podPhase", "containerStatuses": [running, {"restartCount": 3}]}));
        assert_eq!(first5(p), json!(["test", "1/2", "podPhase", "6", "<unknown>"]).as_array().unwrap().clone());

        let p = two_containers(json!({"phase": "podPhase", "containerStatuses": [running,
            {"state": {"waiting": {"reason": "ContainerWaitingReason"}}, "restartCount": 3}]}));
        assert_eq!(first5(p)[1..4], json!(["1/2", "ContainerWaitingReason", "6"]).as_array().unwrap()[..]);

        let p = two_containers(json!({"phase": "podPhase", "containerStatuses": [
            {"state": {"waiting": {"reason": "ContainerWaitingReason"}}, "restartCount": 3},
            {"state": {"terminated": {"reason": "ContainerTerminatedReason"}}, "restartCount": 3}]}));
        assert_eq!(first5(p)[1..3], json!(["0/2", "ContainerWaitingReason"]).as_array().unwrap()[..]);

        let p = two_containers(json!({"reason": "podReason", "phase": "podPhase",
            "containerStatuses": [running, {"ready": true, "restartCount": 3}]}));
        assert_eq!(first5(p)[1..3], json!(["1/2", "podReason"]).as_array().unwrap()[..]);

        let completed = json!({"ready": true, "restartCount": 3,
                               "state": {"terminated": {"reason": "Completed", "exitCode": 0}}});
        let run_ready = json!({"ready": true, "restartCount": 3, "state": {"running": {}}});
        let p = two_containers(json!({"phase": "Running", "containerStatuses": [completed, run_ready]}));
        assert_eq!(first5(p)[2], "NotReady");
        let p = two_containers(json!({"phase": "Running", "containerStatuses": [completed, run_ready],
                                      "conditions": [{"type": "Ready", "status": "True"}]}));
        assert_eq!(first5(p)[2], "Running");
    }

    #[test]
    fn print_pod_init_containers_and_restarts() {
        let p = json!({"metadata": {"name": "test7"},
            "spec": {"initContainers": [{}], "containers": [{}]},
            "status": {"phase": "podPhase",
                "initContainerStatuses": [{"restartCount": 3, "state": {"running": {}},
                    "lastState": {"terminated": {"finishedAt": ago(10)}}}],
                "containerStatuses": [{"restartCount": 0, "state": {"waiting": {}}}]}});
        assert_eq!(first5(p), json!(["test7", "0/1", "Init:0/1", "3 (10s ago)", "<unknown>"]).as_array().unwrap().clone());

        let p = json!({"metadata": {"name": "test10"},
            "spec": {"initContainers": [{}, {}], "containers": [{}]},
            "status": {"phase": "podPhase", "initContainerStatuses": [
                {"restartCount": 2, "state": {"terminated": {}},
                 "lastState": {"terminated": {"finishedAt": ago(120)}}},
                {"restartCount": 3, "state": {"running": {}},
                 "lastState": {"terminated": {"finishedAt": ago(10)}}}],
                "containerStatuses": [{"state": {"waiting": {}}}]}});
        assert_eq!(first5(p)[1..4], json!(["0/1", "Init:1/2", "5 (10s ago)"]).as_array().unwrap()[..]);

        let p = json!({"metadata": {"name": "test11"},
            "spec": {"initContainers": [{}], "containers": [{}]},
            "status": {"phase": "Running", "initContainerStatuses": [
                {"restartCount": 2, "state": {"terminated": {}},
                 "lastState": {"terminated": {"finishedAt": ago(120)}}}],
                "containerStatuses": [{"restartCount": 4, "state": {"running": {}},
                    "lastState": {"terminated": {"finishedAt": ago(20)}}}]}});
        assert_eq!(first5(p)[1..4], json!(["0/1", "Running", "4 (20s ago)"]).as_array().unwrap()[..]);

        let p = json!({"metadata": {"name": "test14"}, "spec": {"containers": [{}, {}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"ready": true, "restartCount": 6, "state": {"running": {}},
                 "lastState": {"terminated": {"finishedAt": ago(5 * 86400)}}},
                {"ready": true, "restartCount": 3, "state": {"running": {}},
                 "lastState": {"terminated": {"finishedAt": ago(20 * 86400)}}}]}});
        assert_eq!(first5(p)[1..4], json!(["2/2", "Running", "9 (5d ago)"]).as_array().unwrap()[..]);

        let p = json!({"metadata": {"name": "x"}, "spec": {"initContainers": [{}], "containers": [{}]},
            "status": {"initContainerStatuses": [
                {"state": {"terminated": {"exitCode": 2, "signal": 0}}}]}});
        assert_eq!(first5(p)[2], "Init:ExitCode:2");
        let p = json!({"metadata": {"name": "x"}, "spec": {"initContainers": [{}], "containers": [{}]},
            "status": {"initContainerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert_eq!(first5(p)[2], "Init:CrashLoopBackOff");
    }

    #[test]
    fn print_pod_sched_gated_completed_terminating() {
        let p = two_containers(json!({"phase": "podPhase",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}));
        assert_eq!(first5(p)[1..4], json!(["0/2", "SchedulingGated", "0"]).as_array().unwrap()[..]);

        let p = json!({"metadata": {"name": "t16"}, "spec": {"containers": [{}]},
            "status": {"phase": "Succeeded", "containerStatuses": [
                {"state": {"terminated": {"reason": "Completed", "exitCode": 0}}}]}});
        let r = row(&p, &Ctx::new(NOW));
        assert_eq!(r.cells[2], "Completed");
        assert_eq!(
            r.conditions,
            Some(json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                                              "message": "The pod has completed successfully."}]))
        );

        let mut p = json!({"metadata": {"name": "t17"}, "spec": {"containers": [{}]},
            "status": {"phase": "Failed", "containerStatuses": [
                {"state": {"terminated": {"reason": "Error", "exitCode": 1}}}]}});
        let r = row(&p, &Ctx::new(NOW));
        assert_eq!(r.cells[2], "Error");
        assert_eq!(r.conditions.unwrap()[0]["message"], "The pod failed.");
        // A terminal pod being deleted keeps its status.
        p["metadata"]["deletionTimestamp"] = ago(10).into();
        assert_eq!(first5(p)[2], "Error");

        for phase in ["Running", "Pending"] {
            let p = json!({"metadata": {"name": "t", "deletionTimestamp": ago(10)},
                "spec": {"containers": [{}]}, "status": {"phase": phase}});
            assert_eq!(first5(p)[2], "Terminating");
        }
        let p = json!({"metadata": {"name": "t", "deletionTimestamp": ago(10)},
            "spec": {"containers": [{}]}, "status": {"phase": "Running", "reason": "NodeLost"}});
        assert_eq!(first5(p)[2], "Unknown");
    }

    #[test]
    fn print_pod_restartable_init_containers() {
        let sidecars = json!([{"name": "r1", "restartPolicy": "Always"}, {"name": "r2", "restartPolicy": "Always"}]);
        let p = json!({"metadata": {"name": "test1"}, "spec": {"initContainers": sidecars, "containers": [{}]},
            "status": {"phase": "Pending", "initContainerStatuses": [
                {"name": "r1", "restartCount": 3, "state": {"running": {}}, "started": false,
                 "lastState": {"terminated": {"finishedAt": ago(10)}}},
                {"name": "r2", "state": {"waiting": {}}, "started": false}],
                "containerStatuses": [{"state": {"waiting": {}}}],
                "conditions": [{"type": "Initialized", "status": "False"}]}});
        assert_eq!(first5(p)[1..4], json!(["0/3", "Init:0/2", "3 (10s ago)"]).as_array().unwrap()[..]);

        let p = json!({"metadata": {"name": "test2"}, "spec": {"initContainers": sidecars, "containers": [{}]},
            "status": {"phase": "Running", "initContainerStatuses": [
                {"name": "r1", "restartCount": 3, "state": {"running": {}}, "started": true,
                 "lastState": {"terminated": {"finishedAt": ago(10)}}},
                {"name": "r2", "state": {"running": {}}, "started": true}],
                "containerStatuses": [{"ready": true, "restartCount": 4, "state": {"running": {}},
                    "lastState": {"terminated": {"finishedAt": ago(20)}}}],
                "conditions": [{"type": "Initialized", "status": "True"}]}});
        assert_eq!(first5(p)[1..4], json!(["1/3", "Running", "7 (10s ago)"]).as_array().unwrap()[..]);

        let p = json!({"metadata": {"name": "test3"}, "spec": {"initContainers": sidecars, "containers": [{}]},
            "status": {"phase": "Succeeded", "initContainerStatuses": [
                {"name": "r1", "restartCount": 3, "state": {"terminated": {"reason": "Error", "exitCode": 137}},
                 "started": false, "lastState": {"terminated": {"finishedAt": ago(10)}}},
                {"name": "r2", "state": {"terminated": {"reason": "Error", "exitCode": 137}}, "started": false}],
                "containerStatuses": [{"restartCount": 4,
                    "state": {"terminated": {"reason": "Completed", "exitCode": 0}},
                    "lastState": {"terminated": {"finishedAt": ago(20)}}}],
                "conditions": [{"type": "Initialized", "status": "True"}]}});
        assert_eq!(first5(p)[1..4], json!(["0/3", "Completed", "7 (10s ago)"]).as_array().unwrap()[..]);

        // Statuses for containers the spec does not have.
        let p = json!({"metadata": {"name": "test4"},
            "spec": {"initContainers": [{"name": "init1"}, {"name": "sidecar1", "restartPolicy": "Always"}],
                     "containers": [{"name": "container1"}]},
            "status": {"phase": "Running",
                "initContainerStatuses": [{"name": "initinvalid"}, {"name": "init1"}, {"name": "sidecar1"}],
                "containerStatuses": [{"name": "containerinvalid"}, {"name": "container1"}]}});
        assert_eq!(first5(p)[1..4], json!(["0/2", "Init:0/2", "0"]).as_array().unwrap()[..]);
    }

    #[test]
    fn print_pod_wide() {
        let p = json!({"metadata": {"name": "test1"},
            "spec": {"containers": [{}, {}], "nodeName": "test1", "readinessGates": [
                {"conditionType": "condition1"}, {"conditionType": "condition2"}, {"conditionType": "condition3"}]},
            "status": {"phase": "podPhase", "podIPs": [{"ip": "1.1.1.1"}, {"ip": "2001:db8::"}],
                "conditions": [{"type": "condition1", "status": "False"}, {"type": "condition2", "status": "True"}],
                "containerStatuses": [{"ready": true, "restartCount": 3, "state": {"running": {}}}, {"restartCount": 3}],
                "nominatedNodeName": "node1"}});
        assert_eq!(cells(p), json!(["test1", "1/2", "podPhase", "6", "<unknown>", "1.1.1.1", "test1", "node1", "1/3"]).as_array().unwrap().clone());

        let p = two_containers(json!({"phase": "podPhase"}));
        assert_eq!(cells(p)[5..], json!(["<none>", "<none>", "<none>", "<none>"]).as_array().unwrap()[..]);
        let p = two_containers(json!({"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.2"}]}));
        assert_eq!(cells(p)[5], "10.0.0.1");
    }

    #[test]
    fn odd_pods_do_not_panic() {
        for p in [json!(null), json!({}), json!({"status": {"containerStatuses": [null, 5, {"state": null}]}})] {
            let c = cells(p);
            assert_eq!(c.len(), 9);
            assert_eq!(c[2], "Pending");
        }
    }
}
