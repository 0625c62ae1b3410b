//! Printers of the smaller groups and of events: upstream's printEvent (core `v1` and
//! `events.k8s.io/v1` events share it, as they share storage upstream), printEndpointSlice,
//! printLease, printPodDisruptionBudget and printPriorityClass. Review kinds (`authorization.k8s.io`,
//! `authentication.k8s.io`) have no printer.

use serde_json::Value;

use super::docs;
use super::util::{arr, get, int_or_string, name, opt_int, str_at, timestamp, Ctx};
use super::{Column, ColumnsFn, Printer, Row, RowFn};

pub(crate) fn printer(group: &str, plural: &str) -> Option<Printer> {
    let (columns, row): (ColumnsFn, RowFn) = match (group, plural) {
        ("events.k8s.io", "events") => (event_columns, events_api_event_row),
        ("discovery.k8s.io", "endpointslices") => (endpoint_slice_columns, endpoint_slice_row),
        ("coordination.k8s.io", "leases") => (lease_columns, lease_row),
        ("policy", "poddisruptionbudgets") => (pdb_columns, pdb_row),
        ("scheduling.k8s.io", "priorityclasses") => (priority_class_columns, priority_class_row),
        _ => return None,
    };
    Some(Printer { columns, row })
}

pub(crate) fn event_columns() -> Vec<Column> {
    vec![
        Column::string("Last Seen", docs::EVENT_LAST_TIMESTAMP),
        Column::string("Type", docs::EVENT_TYPE),
        Column::string("Reason", docs::EVENT_REASON),
        Column::string("Object", docs::EVENT_INVOLVED_OBJECT),
        Column::string("Subobject", docs::OBJECT_REFERENCE_FIELD_PATH).wide(),
        Column::string("Source", docs::EVENT_SOURCE).wide(),
        Column::string("Message", docs::EVENT_MESSAGE),
        Column::string("First Seen", docs::EVENT_FIRST_TIMESTAMP).wide(),
        Column::string("Count", docs::EVENT_COUNT).wide(),
        Column::name().wide(),
    ]
}

/// The JSON names of the `core.Event` fields the printer reads, which differ between the two
/// event APIs.
struct EventFields {
    first: &'static str,
    last: &'static str,
    count: &'static str,
    regarding: &'static str,
    source: &'static str,
    reporting_controller: &'static str,
    message: &'static str,
}

const CORE_EVENT: EventFields = EventFields {
    first: "firstTimestamp",
    last: "lastTimestamp",
    count: "count",
    regarding: "involvedObject",
    source: "source",
    reporting_controller: "reportingComponent",
    message: "message",
};

const EVENTS_API_EVENT: EventFields = EventFields {
    first: "deprecatedFirstTimestamp",
    last: "deprecatedLastTimestamp",
    count: "deprecatedCount",
    regarding: "regarding",
    source: "deprecatedSource",
    reporting_controller: "reportingController",
    message: "note",
};

pub(crate) fn core_event_row(event: &Value, ctx: &Ctx) -> Row {
    event_row(event, ctx, &CORE_EVENT, &EVENTS_API_EVENT)
}

fn events_api_event_row(event: &Value, ctx: &Ctx) -> Row {
    event_row(event, ctx, &EVENTS_API_EVENT, &CORE_EVENT)
}

/// `printEvent`, reading fields under the names of `own`, else under those of `alt` (an event
/// stored in the other API's shape).
fn event_row(event: &Value, ctx: &Ctx, own: &EventFields, alt: &EventFields) -> Row {
    let field = |pick: fn(&EventFields) -> &'static str| -> Option<&Value> { get(event, &[pick(own)]).or_else(|| get(event, &[pick(alt)])) };
    let null = Value::Null;
    let time = |pick: fn(&EventFields) -> &'static str| field(pick).and_then(|t| timestamp(t, &[]));

    let first = match time(|f| f.first) {
        Some(t) => ctx.since_nanos(Some(t)),
        None => ctx.since(event, &["eventTime"]),
    };
    let mut last = match time(|f| f.last) {
        Some(t) => ctx.since_nanos(Some(t)),
        None => first.clone(),
    };
    let mut count = field(|f| f.count).and_then(|c| opt_int(c, &[])).unwrap_or(0);
    if let Some(series) = get(event, &["series"]) {
        last = ctx.since(series, &["lastObservedTime"]);
        count = opt_int(series, &["count"]).unwrap_or(0);
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }

    let regarding = field(|f| f.regarding).unwrap_or(&null);
    let kind = str_at(regarding, &["kind"]).to_lowercase();
    let target = match str_at(regarding, &["name"]) {
        "" => kind,
        object => format!("{kind}/{object}"),
    };
    // formatEventSource: the source, else the reporting controller and instance.
    let source = field(|f| f.source).unwrap_or(&null);
    let first_non_empty = |a: &str, b: &str| {
        if a.is_empty() {
            b.to_string()
        } else {
            a.to_string()
        }
    };
    let component = first_non_empty(str_at(source, &["component"]), field(|f| f.reporting_controller).and_then(Value::as_str).unwrap_or(""));
    let instance = first_non_empty(str_at(source, &["host"]), str_at(event, &["reportingInstance"]));
    let source = if instance.is_empty() { component } else { format!("{component}, {instance}") };
    let message = field(|f| f.message).and_then(Value::as_str).unwrap_or("").trim();

    Row::new(vec![
        last.into(),
        str_at(event, &["type"]).into(),
        str_at(event, &["reason"]).into(),
        target.into(),
        str_at(regarding, &["fieldPath"]).into(),
        source.into(),
        message.into(),
        first.into(),
        count.into(),
        name(event).into(),
    ])
}

fn endpoint_slice_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("AddressType", docs::ENDPOINT_SLICE_ADDRESS_TYPE),
        Column::string("Ports", docs::ENDPOINT_SLICE_PORTS),
        Column::string("Endpoints", docs::ENDPOINT_SLICE_ENDPOINTS),
        Column::age(),
    ]
}

/// `listWithMoreString` over at most three entries: `<unset>` when empty.
fn list_with_more(items: impl Iterator<Item = String>) -> String {
    const MAX: usize = 3;
    let mut list = Vec::new();
    let mut count = 0;
    for item in items {
        if list.len() < MAX {
            list.push(item);
        }
        count += 1;
    }
    let joined = list.join(",");
    if count > MAX {
        format!("{joined} + {} more...", count - MAX)
    } else if joined.is_empty() {
        "<unset>".to_string()
    } else {
        joined
    }
}

fn endpoint_slice_row(slice: &Value, ctx: &Ctx) -> Row {
    let ports = arr(slice, &["ports"]).iter().map(|p| match (opt_int(p, &["port"]), get(p, &["name"])) {
        (Some(port), _) => port.to_string(),
        (None, Some(port_name)) => port_name.as_str().unwrap_or("").to_string(),
        (None, None) => "*".to_string(),
    });
    let addresses = arr(slice, &["endpoints"]).iter().flat_map(|e| arr(e, &["addresses"])).map(|a| a.as_str().unwrap_or("").to_string());
    Row::new(vec![name(slice).into(), str_at(slice, &["addressType"]).into(), list_with_more(ports).into(), list_with_more(addresses).into(), ctx.age(slice)])
}

fn lease_columns() -> Vec<Column> {
    vec![Column::name(), Column::string("Holder", docs::LEASE_SPEC_HOLDER_IDENTITY), Column::age()]
}

fn lease_row(lease: &Value, ctx: &Ctx) -> Row {
    Row::new(vec![name(lease).into(), str_at(lease, &["spec", "holderIdentity"]).into(), ctx.age(lease)])
}

fn pdb_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Min Available", "The minimum number of pods that must be available."),
        Column::string("Max Unavailable", "The maximum number of pods that may be unavailable."),
        Column::integer("Allowed Disruptions", "Calculated number of pods that may be disrupted at this time."),
        Column::age(),
    ]
}

fn pdb_row(pdb: &Value, ctx: &Ctx) -> Row {
    let or_na = |field: &str| int_or_string(get(pdb, &["spec", field])).unwrap_or_else(|| "N/A".to_string());
    Row::new(vec![
        name(pdb).into(),
        or_na("minAvailable").into(),
        or_na("maxUnavailable").into(),
        opt_int(pdb, &["status", "disruptionsAllowed"]).unwrap_or(0).into(),
        ctx.age(pdb),
    ])
}

fn priority_class_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::integer("Value", "value represents the integer value of this priority class."),
        Column::new(
            "Global-Default",
            "boolean",
            "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.",
        ),
        Column::age(),
        Column::string("PreemptionPolicy", "preemptionPolicy is the Policy for preempting pods with lower priority."),
    ]
}

/// Upstream's `printPriorityClass`.
fn priority_class_row(class: &Value, ctx: &Ctx) -> Row {
    Row::new(vec![
        name(class).into(),
        opt_int(class, &["value"]).unwrap_or(0).into(),
        get(class, &["globalDefault"]).and_then(Value::as_bool).unwrap_or(false).into(),
        ctx.age(class),
        str_at(class, &["preemptionPolicy"]).into(),
    ])
}

// Expectations from upstream's pkg/printers/internalversion/printers_test.go (TestPrintEvent,
// TestPrintEndpointSlice, TestPrintLease, TestPrintPodDisruptionBudget).
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;
    const DAY: i64 = 86_400;

    fn ago(secs: i64) -> String {
        jiff::Timestamp::from_second(NOW - secs).unwrap().to_string()
    }

    fn v(x: Value) -> Vec<Value> {
        x.as_array().unwrap().clone()
    }

    fn core(event: Value) -> Vec<Value> {
        core_event_row(&event, &Ctx::new(NOW)).cells
    }

    fn involved() -> Value {
        json!({"kind": "Deployment", "name": "Deployment Name", "fieldPath": "spec.containers{foo}"})
    }

    #[test]
    fn core_events() {
        let e = json!({"metadata": {"name": "event2"}, "source": {"component": "kubelet", "host": "Node1"},
            "involvedObject": involved(), "reason": "Event Reason", "message": "Message Data",
            "firstTimestamp": ago(3 * DAY), "lastTimestamp": ago(2 * DAY), "count": 6, "type": "Warning"});
        assert_eq!(
            core(e),
            v(json!([
                "2d",
                "Warning",
                "Event Reason",
                "deployment/Deployment Name",
                "spec.containers{foo}",
                "kubelet, Node1",
                "Message Data",
                "3d",
                6,
                "event2"
            ]))
        );

        // No first/last timestamps: the event time stands in for both.
        let e = json!({"metadata": {"name": "event5"}, "source": {"component": "kubelet", "host": "Node1"},
            "involvedObject": involved(), "reason": "Event Reason", "message": "Message Data",
            "eventTime": ago(3 * DAY), "count": 1, "type": "Warning"});
        assert_eq!(
            core(e)[..8],
            v(json!(["3d", "Warning", "Event Reason", "deployment/Deployment Name", "spec.containers{foo}", "kubelet, Node1", "Message Data", "3d"]))[..]
        );

        // A series: its last observation and count.
        let e = json!({"metadata": {"name": "event6"}, "involvedObject": involved(), "type": "Warning",
            "series": {"count": 2, "lastObservedTime": ago(2 * DAY)}, "eventTime": ago(3 * DAY)});
        let c = core(e);
        assert_eq!((c[0].clone(), c[7].clone(), c[8].clone()), (json!("2d"), json!("3d"), json!(2)));

        // Singleton without count; empty source falls back to the reporting controller.
        let e = json!({"metadata": {"name": "event7"}, "involvedObject": involved(),
            "reportingComponent": "kubelet", "reportingInstance": "test", "eventTime": ago(3 * DAY),
            "message": "  padded \n"});
        let c = core(e);
        assert_eq!((c[5].clone(), c[6].clone(), c[8].clone()), (json!("kubelet, test"), json!("padded"), json!(1)));

        let c = core(json!({}));
        assert_eq!(c, v(json!(["<unknown>", "", "", "", "", "", "", "<unknown>", 1, ""])));
    }

    #[test]
    fn events_api_events() {
        let e = json!({"metadata": {"name": "ev"}, "regarding": {"kind": "Pod", "name": "web"},
            "note": "Pulled image", "reason": "Pulled", "type": "Normal", "eventTime": ago(90),
            "reportingController": "kubelet", "reportingInstance": "node-1", "deprecatedCount": 4});
        let c = events_api_event_row(&e, &Ctx::new(NOW)).cells;
        assert_eq!(c, v(json!(["90s", "Normal", "Pulled", "pod/web", "", "kubelet, node-1", "Pulled image", "90s", 4, "ev"])));
    }

    #[test]
    fn endpoint_slices() {
        let s = json!({"metadata": {"name": "abcslice.123"}, "addressType": "IPv4",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"name": "named"}, {}],
            "endpoints": [{"addresses": ["10.1.2.3", "2001:db8::1234:5678"]}, {"addresses": ["10.1.2.4", "10.1.2.5"]}]});
        let c = endpoint_slice_row(&s, &Ctx::new(NOW)).cells;
        assert_eq!(c[..4], v(json!(["abcslice.123", "IPv4", "80,named,*", "10.1.2.3,2001:db8::1234:5678,10.1.2.4 + 1 more..."]))[..]);
        let c = endpoint_slice_row(&json!({}), &Ctx::new(NOW)).cells;
        assert_eq!(c, v(json!(["", "", "<unset>", "<unset>", "<unknown>"])));
    }

    #[test]
    fn leases_and_pdbs() {
        let l = json!({"metadata": {"name": "l", "creationTimestamp": ago(3600)}, "spec": {"holderIdentity": "me"}});
        assert_eq!(lease_row(&l, &Ctx::new(NOW)).cells, v(json!(["l", "me", "60m"])));
        let p = json!({"metadata": {"name": "pdb1"}, "spec": {"minAvailable": 22}, "status": {"disruptionsAllowed": 5}});
        assert_eq!(pdb_row(&p, &Ctx::new(NOW)).cells, v(json!(["pdb1", "22", "N/A", 5, "<unknown>"])));
        let p = json!({"metadata": {"name": "pdb2"}, "spec": {"maxUnavailable": "11%"}});
        assert_eq!(pdb_row(&p, &Ctx::new(NOW)).cells, v(json!(["pdb2", "N/A", "11%", 0, "<unknown>"])));
    }
}
