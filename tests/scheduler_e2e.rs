//! The scheduler end to end through real kubectl against `deltakube up`, with plain Node
//! objects the test creates (no kubelet): pods land on the nodes their nodeSelector,
//! tolerations and resources allow; an unschedulable pod gets `PodScheduled=False` and the
//! upstream-style `FailedScheduling` event that `kubectl describe pod` shows; the explain-why
//! views say why; and a pod that fits nowhere is placed once a node that fits appears.
//! The same runs with `deltakube scheduler --kubeconfig` as its own process.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{eventually, Backend, Cluster, Kubectl};

const NODES: &str = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: small, labels: {disk: hdd, kubernetes.io/hostname: small}}
  status: {allocatable: {cpu: "1", memory: 2Gi, pods: "10"}, capacity: {cpu: "1", memory: 2Gi, pods: "10"}, conditions: [{type: Ready, status: "True"}]}
- apiVersion: v1
  kind: Node
  metadata: {name: big, labels: {disk: ssd, kubernetes.io/hostname: big}}
  status: {allocatable: {cpu: "8", memory: 16Gi, pods: "10"}, capacity: {cpu: "8", memory: 16Gi, pods: "10"}, conditions: [{type: Ready, status: "True"}]}
- apiVersion: v1
  kind: Node
  metadata: {name: gpu, labels: {disk: ssd, kubernetes.io/hostname: gpu}}
  spec: {taints: [{key: dedicated, value: gpu, effect: NoSchedule}]}
  status: {allocatable: {cpu: "8", memory: 16Gi, pods: "10"}, capacity: {cpu: "8", memory: 16Gi, pods: "10"}, conditions: [{type: Ready, status: "True"}]}
"#;

fn pod(name: &str, cpu: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  containers: [{{name: c, image: app, resources: {{requests: {{cpu: \"{cpu}\"}}}}}}]\n{extra}"
    )
}

fn node_of(k: &Kubectl, name: &str) -> String {
    k.ok(&["get", "pod", name, "-o", "jsonpath={.spec.nodeName}"]).trim().to_string()
}

fn bound(k: &Kubectl, name: &str) -> Option<String> {
    let mut node = String::new();
    eventually(Duration::from_secs(15), || {
        node = node_of(k, name);
        !node.is_empty()
    })
    .then_some(node)
}

fn scheduling(cluster: &Cluster, k: &Kubectl) {
    let _ = cluster;
    k.ok_stdin(&["apply", "-f", "-"], NODES);

    // The nodeSelector allows ssd nodes; the taint keeps it off gpu: big.
    k.ok_stdin(&["apply", "-f", "-"], &pod("picky", "100m", "  nodeSelector: {disk: ssd}\n"));
    assert_eq!(bound(k, "picky").as_deref(), Some("big"), "picky");
    // Tolerating the taint and selecting it by hostname: gpu.
    k.ok_stdin(
        &["apply", "-f", "-"],
        &pod(
            "tolerant",
            "100m",
            "  nodeSelector: {kubernetes.io/hostname: gpu}\n  tolerations: [{key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}]\n",
        ),
    );
    assert_eq!(bound(k, "tolerant").as_deref(), Some("gpu"), "tolerant");
    // Two cpus fit only big (small has one; gpu is tainted).
    k.ok_stdin(&["apply", "-f", "-"], &pod("heavy", "2", ""));
    assert_eq!(bound(k, "heavy").as_deref(), Some("big"), "heavy");
    let conditions = k.ok(&["get", "pod", "heavy", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].status}"]);
    assert_eq!(conditions.trim(), "True");
    // Upstream's default profile (LeastAllocated) sends half a cpu to the emptier node.
    k.ok_stdin(&["apply", "-f", "-"], &pod("spread", "500m", ""));
    assert_eq!(bound(k, "spread").as_deref(), Some("big"), "spread");

    // Twenty cpus fit nowhere: the event reads as upstream's.
    k.ok_stdin(&["apply", "-f", "-"], &pod("huge", "20", ""));
    let want = "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 2 Insufficient cpu.";
    let mut describe = String::new();
    let shown = eventually(Duration::from_secs(15), || {
        describe = k.ok(&["describe", "pod", "huge"]);
        describe.contains("FailedScheduling") && describe.contains(want)
    });
    assert!(shown, "describe pod huge lacks the FailedScheduling event:\n{describe}");
    assert!(describe.contains("default-scheduler"), "{describe}");
    let reason = k.ok(&["get", "pod", "huge", "-o", "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].reason}"]);
    assert_eq!(reason.trim(), "Unschedulable");
    assert!(node_of(k, "huge").is_empty());

    // The explain view says why, node by node.
    let view: Value = serde_json::from_str(&k.ok(&["get", "--raw", "/views/scheduler-filters?namespace=default&name=huge"])).unwrap();
    let rows = view["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{view}");
    let rejected = rows[0]["value"]["rejected"].as_array().unwrap();
    let reasons = |n: &str| rejected.iter().find(|v| v["node"] == n).map(|v| v["reasons"].clone()).unwrap_or(Value::Null);
    assert_eq!(reasons("small"), serde_json::json!(["Insufficient cpu"]), "{view}");
    assert_eq!(reasons("gpu"), serde_json::json!(["node(s) had untolerated taint {dedicated: gpu}"]), "{view}");
    assert_eq!(rows[0]["value"]["feasible"], 0, "{view}");
    let scores: Value = serde_json::from_str(&k.ok(&["get", "--raw", "/views/scheduler-scores?namespace=default&name=heavy"])).unwrap();
    assert_eq!(scores["rows"][0]["value"]["outcome"]["node"], "big", "{scores}");
    let plugins = scores["rows"][0]["value"]["nodes"][0]["plugins"].as_array().unwrap();
    assert!(plugins.iter().any(|p| p["plugin"] == "NodeResourcesFit"), "{scores}");

    // A node that fits arrives: the pod is placed without anything else happening to it.
    let roomy = "apiVersion: v1\nkind: Node\nmetadata: {name: roomy, labels: {kubernetes.io/hostname: roomy}}\n\
                 status: {allocatable: {cpu: \"32\", memory: 64Gi, pods: \"10\"}, conditions: [{type: Ready, status: \"True\"}]}\n";
    k.ok_stdin(&["apply", "-f", "-"], roomy);
    assert_eq!(bound(k, "huge").as_deref(), Some("roomy"), "huge after a roomy node arrived");
}

#[test]
fn the_scheduler_places_and_explains_in_deltakube_up() {
    let cluster = Cluster::start(Backend::Embedded);
    let k = cluster.kubectl("1.33");
    scheduling(&cluster, &k);
}

/// The profile a user gives as kube-scheduler's `--config` (here `up --scheduler-config`):
/// MostAllocated packs a pod onto the fuller node where the default spreads it to the emptier
/// one, the re-weighted and disabled plugins show in the scores view, and a mistaken file stops
/// the scheduler with the field it is about.
#[test]
fn a_scheduler_configuration_file_sets_the_profile() {
    let files = tempfile::tempdir().unwrap();
    let config = files.path().join("scheduler.yaml");
    std::fs::write(
        &config,
        "apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    multiPoint:
      enabled: [{name: NodeResourcesFit, weight: 5}]
      disabled: [{name: NodeResourcesBalancedAllocation}, {name: VolumeBinding}]
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources: [{name: cpu, weight: 1}, {name: memory, weight: 1}]
",
    )
    .unwrap();
    let cluster = Cluster::start_with(Backend::Embedded, &["--scheduler-config", &config.display().to_string()]);
    let k = cluster.kubectl("1.33");
    k.ok_stdin(&["apply", "-f", "-"], NODES);
    k.ok_stdin(&["apply", "-f", "-"], &pod("packed", "500m", ""));
    assert_eq!(bound(&k, "packed").as_deref(), Some("small"), "MostAllocated packs onto the node with one cpu");
    let scores: Value = serde_json::from_str(&k.ok(&["get", "--raw", "/views/scheduler-scores?namespace=default&name=packed"])).unwrap();
    let plugins = scores["rows"][0]["value"]["nodes"][0]["plugins"].as_array().cloned().unwrap_or_default();
    let weight = |name: &str| plugins.iter().find(|p| p["plugin"] == name).map(|p| p["weight"].clone());
    assert_eq!(weight("NodeResourcesFit"), Some(serde_json::json!(5)), "{scores}");
    assert_eq!(weight("TaintToleration"), Some(serde_json::json!(3)), "{scores}");
    assert_eq!(weight("NodeResourcesBalancedAllocation"), None, "{scores}");

    let mistaken = files.path().join("mistaken.yaml");
    std::fs::write(
        &mistaken,
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- plugins: {score: {enabled: [{name: NodePorts}]}}\n",
    )
    .unwrap();
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_deltakube"))
        .args(["scheduler", "--kubeconfig", &cluster.kubeconfig.display().to_string(), "--config", &mistaken.display().to_string()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a mistaken configuration must stop the scheduler");
    assert!(stderr.contains("mistaken.yaml") && stderr.contains("plugin \"NodePorts\" does not extend score plugin"), "{stderr}");
}

#[test]
fn the_scheduler_runs_alone_against_an_api_server() {
    let cluster = Cluster::start_apiserver(Backend::Embedded);
    let k = cluster.kubectl("1.33");
    let log = cluster.dir.path().join("scheduler.log");
    let file = std::fs::File::create(&log).unwrap();
    // Its views are on a free port of its own choosing, registered with the API server.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_deltakube"))
        .args(["scheduler", "--kubeconfig", &cluster.kubeconfig.display().to_string()])
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    k.ok_stdin(&["apply", "-f", "-"], NODES);
    k.ok_stdin(&["apply", "-f", "-"], &pod("alone", "2", ""));
    let placed = bound(&k, "alone");
    let scores = k.run(&["get", "--raw", "/views/scheduler-scores?namespace=default&name=alone"]);
    // Stopped the way a service manager stops it, it takes its views out of the API server.
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(placed.as_deref(), Some("big"), "log:\n{log}");
    let scores: serde_json::Value = serde_json::from_str(&scores.stdout).unwrap_or_else(|_| panic!("{}\nlog:\n{log}", scores.stderr));
    assert_eq!(scores["rows"][0]["value"]["outcome"]["node"], "big", "{scores}");
    let left = k.ok(&["-n", "kube-system", "get", "endpoints", "deltakube-views", "-o", "jsonpath={.subsets}"]);
    assert_eq!(left, "", "the scheduler's entry is withdrawn; log:\n{log}");
    let none = k.run(&["get", "--raw", "/views"]);
    assert!(!none.ok && none.stderr.contains("no views are registered"), "{}", none.stderr);
}

/// PriorityClasses as a user meets them: the system classes exist, `kubectl create
/// priorityclass` works, the Priority admission step resolves a pod's class to its priority (and
/// refuses an unknown class, a contradicting priority and a second global default), and the
/// scheduler's queue follows it: with room for one pod, the high-priority one gets it.
#[test]
fn priority_classes_order_the_queue() {
    let cluster = Cluster::start(Backend::Embedded);
    let k = cluster.kubectl("1.33");
    let listed = k.ok(&["get", "priorityclasses"]);
    assert!(listed.contains("system-node-critical") && listed.contains("2000001000"), "{listed}");
    assert!(listed.contains("system-cluster-critical") && listed.contains("2000000000"), "{listed}");

    k.ok(&["create", "priorityclass", "high", "--value=1000", "--description=first in line"]);
    k.ok(&["create", "priorityclass", "fallback", "--value=5", "--global-default=true"]);
    let second = k.fails(&["create", "priorityclass", "another", "--value=6", "--global-default=true"]);
    assert!(second.contains("PriorityClass fallback is already marked as default. Only one default can exist"), "{second}");
    let reserved = k.fails(&["create", "priorityclass", "system-mine", "--value=1"]);
    assert!(reserved.contains("priority class names with 'system-' prefix are reserved for system use only"), "{reserved}");
    let changed = k.fails(&["patch", "priorityclass", "high", "-p", "{\"value\": 7}"]);
    assert!(changed.contains("may not be changed in an update"), "{changed}");

    let unknown = k.run_with_stdin(&["apply", "-f", "-"], Some(&pod("lost", "100m", "  priorityClassName: nope\n")));
    assert!(!unknown.ok && unknown.stderr.contains("no PriorityClass with name nope was found"), "{}", unknown.stderr);
    let contradicting = k.run_with_stdin(&["apply", "-f", "-"], Some(&pod("liar", "100m", "  priorityClassName: high\n  priority: 3\n")));
    assert!(!contradicting.ok && contradicting.stderr.contains("must not be provided in pod spec"), "{}", contradicting.stderr);

    // No node yet: both wait. The low one is older.
    k.ok_stdin(&["apply", "-f", "-"], &pod("low", "600m", ""));
    std::thread::sleep(Duration::from_millis(50));
    k.ok_stdin(&["apply", "-f", "-"], &pod("urgent", "600m", "  priorityClassName: high\n"));
    let priority = |name: &str| k.ok(&["get", "pod", name, "-o", "jsonpath={.spec.priorityClassName}/{.spec.priority}/{.spec.preemptionPolicy}"]);
    assert_eq!(priority("low"), "fallback/5/PreemptLowerPriority", "the global default applies");
    assert_eq!(priority("urgent"), "high/1000/PreemptLowerPriority");

    let one_slot = "apiVersion: v1\nkind: Node\nmetadata: {name: only, labels: {kubernetes.io/hostname: only}}\n\
                    status: {allocatable: {cpu: \"1\", memory: 2Gi, pods: \"10\"}, conditions: [{type: Ready, status: \"True\"}]}\n";
    k.ok_stdin(&["apply", "-f", "-"], one_slot);
    assert_eq!(bound(&k, "urgent").as_deref(), Some("only"), "the high-priority pod goes first");
    assert!(node_of(&k, "low").is_empty(), "the low-priority pod waits: one cpu holds one of them");
}
