//! ImageLocality (`pkg/scheduler/framework/plugins/imagelocality/image_locality.go`).
//!
//! Each of the pod's images already on the node adds its size scaled by how widely it has
//! spread (`size * nodes having it / all nodes`), so one big image on one node does not pull
//! every pod there. The sum, clamped to `[23MiB, 1000MiB * images]`, maps linearly onto
//! `0..=100`. The pod's images are its init containers', containers' and (as upstream's master
//! also counts) image volumes', normalized to `:latest` when untagged.
//!
//! The size is the one this node reports for the image. Upstream keeps the size of whichever
//! node reported the image first; nodes report one size per image, so this only differs when
//! they disagree, and it keeps the score a function of the node.

use std::collections::BTreeMap;

use super::framework::MAX_NODE_SCORE;
use super::rows::NodeRow;
use super::rows_pod::PodRow;

const MB: i64 = 1024 * 1024;
/// Upstream's `minThreshold`.
pub const MIN_THRESHOLD: i64 = 23 * MB;
/// Upstream's `maxContainerThreshold`.
pub const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

/// Upstream's `scaledImageScore`.
fn scaled_image_score(size: i64, nodes_with_image: i64, total_nodes: i64) -> i64 {
    let spread = nodes_with_image as f64 / total_nodes as f64;
    (size as f64 * spread) as i64
}

/// Upstream's `calculatePriority`.
pub fn calculate_priority(sum: i64, images: usize) -> i64 {
    let max = MAX_CONTAINER_THRESHOLD * images as i64;
    let clamped = sum.clamp(MIN_THRESHOLD, max.max(MIN_THRESHOLD));
    if max <= MIN_THRESHOLD {
        return 0;
    }
    MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
}

/// The node's score for the pod: `image_node_counts` is how many nodes report each image name,
/// `total_nodes` how many nodes the cluster has.
pub fn score(pod: &PodRow, node: &NodeRow, image_node_counts: &BTreeMap<String, i64>, total_nodes: i64) -> i64 {
    if total_nodes == 0 {
        return 0;
    }
    let mut sum = 0;
    for image in &pod.images {
        if let Some(size) = node.images.iter().find(|i| i.names.iter().any(|n| n == image)).map(|i| i.size_bytes) {
            sum += scaled_image_score(size, image_node_counts.get(image).copied().unwrap_or(1), total_nodes);
        }
    }
    calculate_priority(sum, pod.images.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::test_support::{node, pod, snapshot};
    use serde_json::{json, Value};

    fn image(names: &[&str], mb: i64) -> Value {
        json!({"names": names, "sizeBytes": mb * MB})
    }

    fn image_node(name: &str, images: Vec<Value>) -> NodeRow {
        node(json!({"metadata": {"name": name}, "status": {"images": images}}))
    }

    fn images_pod(containers: &[&str], init: &[&str]) -> PodRow {
        let c = |names: &[&str]| names.iter().map(|i| json!({"image": i})).collect::<Vec<Value>>();
        pod(json!({"metadata": {"name": "p"}, "spec": {"containers": c(containers), "initContainers": c(init)}}))
    }

    fn scores(p: &PodRow, nodes: Vec<NodeRow>) -> Vec<i64> {
        let s = snapshot(nodes.clone(), vec![]);
        let counts = s.image_node_counts();
        nodes.iter().map(|n| score(p, n, &counts, nodes.len() as i64)).collect()
    }

    // Upstream: pkg/scheduler/framework/plugins/imagelocality/image_locality_test.go, TestImageLocalityPriority.
    #[test]
    fn upstream_image_locality_cases() {
        let n403002000 = || {
            vec![
                image(&["gcr.io/40:latest", "gcr.io/40:v1", "gcr.io/40:v1"], 40),
                image(&["gcr.io/300:latest", "gcr.io/300:v1"], 300),
                image(&["gcr.io/2000:latest"], 2000),
            ]
        };
        let n25010 = || vec![image(&["gcr.io/250:latest"], 250), image(&["gcr.io/10:latest", "gcr.io/10:v1"], 10)];
        let n60040900 = || vec![image(&["gcr.io/600:latest"], 600), image(&["gcr.io/40:latest"], 40), image(&["gcr.io/900:latest"], 900)];
        let n300600900 = || vec![image(&["gcr.io/300:latest"], 300), image(&["gcr.io/600:latest"], 600), image(&["gcr.io/900:latest"], 900)];
        let n400030 = || vec![image(&["gcr.io/4000:latest"], 4000), image(&["gcr.io/30:latest"], 30)];
        let n203040 = || vec![image(&["gcr.io/20:latest"], 20), image(&["gcr.io/30:latest"], 30), image(&["gcr.io/40:latest"], 40)];

        // "two images spread on two nodes, prefer the larger image one"
        let p = images_pod(&["gcr.io/40", "gcr.io/250"], &[]);
        assert_eq!(scores(&p, vec![image_node("node1", n403002000()), image_node("node2", n25010())]), [0, 5]);
        // "two images on one node, prefer this node"
        let p = images_pod(&["gcr.io/40", "gcr.io/300"], &[]);
        assert_eq!(scores(&p, vec![image_node("node1", n403002000()), image_node("node2", n25010())]), [7, 0]);
        // "if exceed limit, use limit"
        let p = images_pod(&["gcr.io/10", "gcr.io/4000"], &[]);
        assert_eq!(scores(&p, vec![image_node("node1", n400030()), image_node("node2", n25010())]), [100, 0]);
        // "if exceed limit, use limit (with node which has no images present)"
        assert_eq!(scores(&p, vec![image_node("node1", n400030()), image_node("node2", n25010()), image_node("node3", vec![])]), [66, 0, 0]);
        // "pod with multiple large images, node2 is preferred"
        let p = images_pod(&["gcr.io/300", "gcr.io/600", "gcr.io/900"], &[]);
        assert_eq!(scores(&p, vec![image_node("node1", n60040900()), image_node("node2", n300600900()), image_node("node3", vec![])]), [32, 36, 0]);
        // "pod with multiple small images"
        let p = images_pod(&["gcr.io/30", "gcr.io/40"], &[]);
        assert_eq!(scores(&p, vec![image_node("node1", n203040()), image_node("node2", n400030())]), [1, 0]);
        // "include InitContainers: two images spread on two nodes, prefer the larger image one"
        let p = images_pod(&["gcr.io/30"], &["gcr.io/300"]);
        assert_eq!(scores(&p, vec![image_node("node1", n403002000()), image_node("node2", n203040())]), [6, 0]);
    }
}
