//! Helpers shared by the printers: tolerant JSON access, ages (`duration.HumanDuration`),
//! label and label-selector formatting, and container cells — each mirroring its upstream source.

use serde_json::Value;

/// What a row may depend on besides the object: the current time.
pub(crate) struct Ctx {
    /// Now, in nanoseconds since the Unix epoch.
    pub(crate) now: i128,
}

impl Ctx {
    pub(crate) fn new(now_unix: i64) -> Ctx {
        Ctx { now: i128::from(now_unix) * 1_000_000_000 }
    }

    /// `translateTimestampSince`: the age of the timestamp at `path`, `<unknown>` when unset.
    pub(crate) fn since(&self, obj: &Value, path: &[&str]) -> String {
        self.since_nanos(timestamp(obj, path))
    }

    /// `translateTimestampSince` of an already parsed timestamp.
    pub(crate) fn since_nanos(&self, at: Option<i128>) -> String {
        match at {
            Some(at) => human_duration(self.now - at),
            None => "<unknown>".to_string(),
        }
    }

    /// The "Age" cell: time since `metadata.creationTimestamp`.
    pub(crate) fn age(&self, obj: &Value) -> Value {
        self.since(obj, &["metadata", "creationTimestamp"]).into()
    }
}

/// The value at `path`, if every step exists. `null` counts as absent, as a nil pointer in Go.
pub(crate) fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        cur = cur.as_object()?.get(*key)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// The string at `path`, `""` when absent or not a string (Go's zero value).
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).and_then(Value::as_str).unwrap_or("")
}

/// The integer at `path`, 0 when absent.
pub(crate) fn int_at(v: &Value, path: &[&str]) -> i64 {
    get(v, path).map(int_of).unwrap_or(0)
}

/// The integer at `path`, if present.
pub(crate) fn opt_int(v: &Value, path: &[&str]) -> Option<i64> {
    get(v, path).filter(|v| v.is_number()).map(int_of)
}

fn int_of(v: &Value) -> i64 {
    v.as_i64().or_else(|| v.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX))).or_else(|| v.as_f64().map(|f| f as i64)).unwrap_or(0)
}

/// The boolean at `path`, false when absent.
pub(crate) fn bool_at(v: &Value, path: &[&str]) -> bool {
    get(v, path).and_then(Value::as_bool).unwrap_or(false)
}

/// The array at `path`, empty when absent.
pub(crate) fn arr<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    get(v, path).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// The number of entries of the map at `path` (`len(map)` in Go).
pub(crate) fn map_len(v: &Value, path: &[&str]) -> usize {
    get(v, path).and_then(Value::as_object).map_or(0, |m| m.len())
}

/// `metadata.name`.
pub(crate) fn name(obj: &Value) -> &str {
    str_at(obj, &["metadata", "name"])
}

/// Whether `metadata.deletionTimestamp` is set.
pub(crate) fn deleting(obj: &Value) -> bool {
    get(obj, &["metadata", "deletionTimestamp"]).is_some()
}

/// A `metav1.Time` or `metav1.MicroTime` at `path` in nanoseconds since the epoch; `None` when
/// unset, unparseable, or Go's zero time (for which `IsZero` holds).
pub(crate) fn timestamp(v: &Value, path: &[&str]) -> Option<i128> {
    let text = get(v, path)?.as_str()?;
    let ts: jiff::Timestamp = text.trim().parse().ok()?;
    // 0001-01-01T00:00:00Z, Go's zero time.
    const GO_ZERO_SECONDS: i64 = -62_135_596_800;
    if ts.as_second() == GO_ZERO_SECONDS && ts.subsec_nanosecond() == 0 {
        return None;
    }
    Some(ts.as_nanosecond())
}

/// `duration.HumanDuration` (k8s.io/apimachinery/pkg/util/duration) of a duration in nanoseconds.
/// Like Go's `time.Duration`, the duration saturates at the range of an i64.
pub(crate) fn human_duration(nanos: i128) -> String {
    let d = nanos.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    const SECOND: i64 = 1_000_000_000;
    const MINUTE: i64 = 60 * SECOND;
    const HOUR: i64 = 60 * MINUTE;
    let seconds = d / SECOND;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d / MINUTE;
    if minutes < 10 {
        let s = (d / SECOND) % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d / HOUR;
    if hours < 8 {
        let m = (d / MINUTE) % 60;
        if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        }
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        }
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// `labels.FormatLabels`: sorted `key=value` pairs joined by commas, `<none>` when empty.
pub(crate) fn format_labels(map: Option<&Value>) -> String {
    let mut pairs: Vec<String> =
        map.and_then(Value::as_object).map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect()).unwrap_or_default();
    // Set.String sorts the joined pairs, not the keys.
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

/// `metav1.LabelSelectorAsSelector(sel).String()`: `Ok("")` for a nil selector (`labels.Nothing`)
/// and for an empty one (`labels.Everything`), `Err` when a requirement is invalid.
pub(crate) fn label_selector(sel: Option<&Value>) -> Result<String, ()> {
    let Some(sel) = sel else {
        return Ok(String::new());
    };
    let match_labels = sel.get("matchLabels").and_then(Value::as_object);
    let exprs = sel.get("matchExpressions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    // Requirements as (key, rendered); `selector.Add` sorts them by key.
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (key, value) in match_labels.into_iter().flatten() {
        let value = value.as_str().unwrap_or("");
        validate(key, &[value])?;
        reqs.push((key.clone(), format!("{key}={value}")));
    }
    for expr in exprs {
        let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> =
            expr.get("values").and_then(Value::as_array).map(|vs| vs.iter().map(|v| v.as_str().unwrap_or("")).collect()).unwrap_or_default();
        validate(key, &values)?;
        let mut sorted = values.clone();
        sorted.sort_unstable();
        let rendered = match expr.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" if !values.is_empty() => format!("{key} in ({})", sorted.join(",")),
            "NotIn" if !values.is_empty() => format!("{key} notin ({})", sorted.join(",")),
            "Exists" if values.is_empty() => key.to_string(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return Err(()),
        };
        reqs.push((key.to_string(), rendered));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs.into_iter().map(|(_, r)| r).collect::<Vec<_>>().join(","))
}

/// `metav1.FormatLabelSelector`: `<none>` for nil or empty selectors, `<error>` for invalid ones.
pub(crate) fn format_label_selector(sel: Option<&Value>) -> String {
    match label_selector(sel) {
        Err(()) => "<error>".to_string(),
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
    }
}

/// `labels.NewRequirement`'s checks: a qualified-name key and label-syntax values.
fn validate(key: &str, values: &[&str]) -> Result<(), ()> {
    if is_qualified_name(key) && values.iter().all(|v| is_label_value(v)) {
        Ok(())
    } else {
        Err(())
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters.
fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `validation.IsValidLabelValue`: empty, or a label name.
fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_label_name(s)
}

/// `validation.IsQualifiedName`: an optional DNS-1123 subdomain prefix, a slash, and a name.
fn is_qualified_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [name] => is_label_name(name),
        [prefix, name] => is_dns1123_subdomain(prefix) && is_label_name(name),
        _ => false,
    }
}

/// `validation.IsDNS1123Subdomain`: dot-separated lowercase labels, at most 253 characters.
fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase() || *c == b'-')
        })
}

/// `layoutContainerCells`: container names and images, each joined by commas.
pub(crate) fn container_cells(containers: &[Value]) -> (Value, Value) {
    let names: Vec<&str> = containers.iter().map(|c| str_at(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| str_at(c, &["image"])).collect();
    (names.join(",").into(), images.join(",").into())
}

/// `intstr.IntOrString.String()`, or `None` for a nil pointer.
pub(crate) fn int_or_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        n @ Value::Number(_) => Some(int_of(n).to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const S: i128 = 1_000_000_000;
    const M: i128 = 60 * S;
    const H: i128 = 60 * M;
    const MS: i128 = 1_000_000;

    // Cases of TestHumanDuration and TestHumanDurationBoundaries in upstream's
    // staging/src/k8s.io/apimachinery/pkg/util/duration/duration_test.go.
    #[test]
    fn human_duration_matches_upstream() {
        let cases: &[(i128, &str)] = &[
            (S, "1s"),
            (70 * S, "70s"),
            (190 * S, "3m10s"),
            (70 * M, "70m"),
            (47 * H, "47h"),
            (49 * H, "2d1h"),
            ((8 * 24 + 2) * H, "8d"),
            (367 * 24 * H, "367d"),
            ((365 * 2 * 24 + 25) * H, "2y1d"),
            ((365 * 8 * 24 + 2) * H, "8y"),
            (-2 * S, "<invalid>"),
            (-2 * S + 1, "0s"),
            (0, "0s"),
            (S - MS, "0s"),
            (2 * M - MS, "119s"),
            (2 * M, "2m"),
            (2 * M + S, "2m1s"),
            (10 * M - MS, "9m59s"),
            (10 * M, "10m"),
            (10 * M + S, "10m"),
            (3 * H - MS, "179m"),
            (3 * H, "3h"),
            (3 * H + M, "3h1m"),
            (8 * H - MS, "7h59m"),
            (8 * H, "8h"),
            (8 * H + 59 * M, "8h"),
            (2 * 24 * H - MS, "47h"),
            (2 * 24 * H, "2d"),
            (2 * 24 * H + H, "2d1h"),
            (8 * 24 * H - MS, "7d23h"),
            (8 * 24 * H, "8d"),
            (8 * 24 * H + 23 * H, "8d"),
            (2 * 365 * 24 * H - MS, "729d"),
            (2 * 365 * 24 * H, "2y"),
            (2 * 365 * 24 * H + 23 * H, "2y"),
            (2 * 365 * 24 * H + 23 * H + 59 * M, "2y"),
            (2 * 365 * 24 * H + 24 * H - MS, "2y"),
            (2 * 365 * 24 * H + 24 * H, "2y1d"),
            (3 * 365 * 24 * H, "3y"),
            (4 * 365 * 24 * H, "4y"),
            (5 * 365 * 24 * H, "5y"),
            (6 * 365 * 24 * H, "6y"),
            (7 * 365 * 24 * H, "7y"),
            (8 * 365 * 24 * H - MS, "7y364d"),
            (8 * 365 * 24 * H, "8y"),
            (8 * 365 * 24 * H + 364 * 24 * H, "8y"),
            (9 * 365 * 24 * H, "9y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(*d), *want, "duration {d}ns");
        }
    }

    // TestTranslateTimestampSince in pkg/printers/internalversion/printers_test.go.
    #[test]
    fn translate_timestamp_since() {
        let ctx = Ctx::new(1_700_000_000);
        let at = |secs: f64| Some(ctx.now - (secs * 1e9) as i128);
        assert_eq!(ctx.since_nanos(at(-2.1)), "<invalid>");
        assert_eq!(ctx.since_nanos(at(-1.9)), "0s");
        assert_eq!(ctx.since_nanos(at(0.0)), "0s");
        assert_eq!(ctx.since_nanos(None), "<unknown>");
        assert_eq!(ctx.since_nanos(at(30.0)), "30s");
        assert_eq!(ctx.since_nanos(at(300.0)), "5m");
        assert_eq!(ctx.since_nanos(at(6000.0)), "100m");
        assert_eq!(ctx.since_nanos(at(2.0 * 86400.0)), "2d");
        assert_eq!(ctx.since_nanos(at(90.0 * 86400.0)), "90d");
        assert_eq!(ctx.since_nanos(at(10.0 * 365.0 * 86400.0)), "10y");
    }

    #[test]
    fn timestamps() {
        let obj = json!({"a": "2023-11-14T22:13:20Z", "b": "0001-01-01T00:00:00Z", "c": "junk",
                         "d": "2023-11-14T22:13:20.123456Z", "e": null});
        assert_eq!(timestamp(&obj, &["a"]), Some(1_700_000_000 * S));
        assert_eq!(timestamp(&obj, &["b"]), None);
        assert_eq!(timestamp(&obj, &["c"]), None);
        assert_eq!(timestamp(&obj, &["d"]), Some(1_700_000_000 * S + 123_456_000));
        assert_eq!(timestamp(&obj, &["e"]), None);
        assert_eq!(timestamp(&obj, &["missing"]), None);
    }

    #[test]
    fn labels_and_selectors() {
        assert_eq!(format_labels(None), "<none>");
        assert_eq!(format_labels(Some(&json!({"b": "2", "a": "1"}))), "a=1,b=2");
        assert_eq!(format_labels(Some(&json!({"a": "2", "a.b": "1"}))), "a.b=1,a=2");
        assert_eq!(format_label_selector(None), "<none>");
        assert_eq!(format_label_selector(Some(&json!({}))), "<none>");
        assert_eq!(label_selector(None), Ok(String::new()));
        let sel = json!({
            "matchLabels": {"tier": "web", "app": "x"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev"]},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
                {"key": "gpu", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist"},
            ],
        });
        assert_eq!(format_label_selector(Some(&sel)), "app=x,env in (dev,prod),gpu,!legacy,tier=web,zone notin (b)");
        let bad_op = json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]});
        assert_eq!(format_label_selector(Some(&bad_op)), "<error>");
        assert_eq!(label_selector(Some(&bad_op)), Err(()));
        let bad_key = json!({"matchLabels": {"-bad": "x"}});
        assert_eq!(format_label_selector(Some(&bad_key)), "<error>");
        let prefixed = json!({"matchLabels": {"app.kubernetes.io/name": "x"}});
        assert_eq!(format_label_selector(Some(&prefixed)), "app.kubernetes.io/name=x");
        let empty_in = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]});
        assert_eq!(format_label_selector(Some(&empty_in)), "<error>");
    }

    #[test]
    fn accessors_tolerate_odd_input() {
        let v = json!({"a": {"b": [1, 2]}, "n": 3.9, "s": 5, "big": u64::MAX});
        assert_eq!(arr(&v, &["a", "b"]).len(), 2);
        assert_eq!(arr(&v, &["a", "b", "c"]).len(), 0);
        assert_eq!(str_at(&v, &["s"]), "");
        assert_eq!(int_at(&v, &["n"]), 3);
        assert_eq!(int_at(&v, &["big"]), i64::MAX);
        assert_eq!(int_at(&json!(null), &["x"]), 0);
        assert_eq!(int_or_string(Some(&json!(2))), Some("2".into()));
        assert_eq!(int_or_string(Some(&json!("50%"))), Some("50%".into()));
        assert_eq!(int_or_string(None), None);
    }
}
