//! Turning protobuf messages into JSON values, driven by the generated descriptor table.

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use super::wire::{self, WireValue};
use super::{find_kind, Cardinality, FieldDesc, FieldType, MessageDesc, ProtobufError, Scalar, Special, MAGIC, MAX_DEPTH, MESSAGES};

const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
const TYPE_META: &str = "k8s.io.apimachinery.pkg.runtime.TypeMeta";

/// Decodes `k8s\0` + `runtime.Unknown` into the object's JSON, with `kind` and `apiVersion` first.
pub(super) fn decode_body(body: &[u8], depth: usize) -> Result<Value, ProtobufError> {
    let envelope = body.strip_prefix(MAGIC.as_slice()).ok_or(ProtobufError::MissingMagic)?;
    let mut type_meta: &[u8] = &[];
    let mut raw: &[u8] = &[];
    let mut content_encoding = String::new();
    let mut content_type = String::new();
    for item in wire::fields(envelope) {
        match item? {
            (1, WireValue::Bytes(b)) => type_meta = b,
            (2, WireValue::Bytes(b)) => raw = b,
            (3, WireValue::Bytes(b)) => content_encoding = utf8(b, UNKNOWN, 3)?,
            (4, WireValue::Bytes(b)) => content_type = utf8(b, UNKNOWN, 4)?,
            (tag @ 1..=4, v) => return Err(mismatch(UNKNOWN, tag, &v)),
            _ => {}
        }
    }
    let mut api_version = String::new();
    let mut kind = String::new();
    for item in wire::fields(type_meta) {
        match item? {
            (1, WireValue::Bytes(b)) => api_version = utf8(b, TYPE_META, 1)?,
            (2, WireValue::Bytes(b)) => kind = utf8(b, TYPE_META, 2)?,
            (tag @ 1..=2, v) => return Err(mismatch(TYPE_META, tag, &v)),
            _ => {}
        }
    }
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtobufError::MissingTypeMeta);
    }
    if !content_encoding.is_empty() {
        return Err(ProtobufError::UnsupportedContentEncoding(content_encoding));
    }
    let fields = if content_type.starts_with("application/json") {
        // An envelope may carry JSON in `raw`; take it as it is.
        match serde_json::from_slice(raw) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(ProtobufError::Malformed("JSON raw is not an object".into())),
            Err(source) => return Err(ProtobufError::InvalidJson { message: UNKNOWN, source }),
        }
    } else {
        let desc = find_kind(&api_version, &kind).ok_or_else(|| ProtobufError::UnknownKind { api_version: api_version.clone(), kind: kind.clone() })?;
        match decode_message(desc, raw, depth + 1)? {
            Some(Value::Object(m)) => m,
            _ => return Err(ProtobufError::UnknownKind { api_version, kind }),
        }
    };
    let mut out = Map::with_capacity(fields.len() + 2);
    out.insert("kind".into(), Value::String(kind));
    out.insert("apiVersion".into(), Value::String(api_version));
    for (k, v) in fields {
        if k != "kind" && k != "apiVersion" {
            out.insert(k, v);
        }
    }
    Ok(Value::Object(out))
}

fn utf8(b: &[u8], message: &'static str, tag: u32) -> Result<String, ProtobufError> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtobufError::InvalidUtf8 { message, tag })
}

fn mismatch(message: &'static str, tag: u32, v: &WireValue<'_>) -> ProtobufError {
    ProtobufError::WireTypeMismatch { message, tag, wire_type: v.wire_type() }
}

fn invalid(message: &'static str, detail: impl Into<String>) -> ProtobufError {
    ProtobufError::InvalidValue { message, detail: detail.into() }
}

/// Decodes one message. `None` means the JSON encoding has no value for it (a zero `Time`, an
/// empty `RawExtension`): the field holding it is left out (or is `null` inside a list or map).
pub(super) fn decode_message(desc: &'static MessageDesc, bytes: &[u8], depth: usize) -> Result<Option<Value>, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep);
    }
    let fields = decode_fields(desc, bytes, depth)?;
    let get = |tag: u32| fields.iter().find(|(f, _)| f.tag == tag).and_then(|(_, v)| v.as_ref());
    let int = |tag: u32| get(tag).and_then(Value::as_i64).unwrap_or(0);
    let name = desc.name;
    Ok(match desc.special {
        Special::None => {
            let mut out = Map::new();
            for (f, v) in fields {
                let Some(v) = v else { continue };
                if f.card == Cardinality::Single && matches!(f.ty, FieldType::Scalar(_)) && !f.keep_zero && is_zero(&v) {
                    continue;
                }
                match v {
                    Value::Object(inner) if f.inline => out.extend(inner),
                    v => {
                        out.insert(f.json.to_string(), v);
                    }
                }
            }
            Some(Value::Object(out))
        }
        Special::Time | Special::MicroTime => {
            let (seconds, nanos) = (int(1), int(2));
            if seconds == 0 && nanos == 0 {
                None
            } else {
                Some(Value::String(format_time(seconds, nanos, desc.special == Special::MicroTime, name)?))
            }
        }
        Special::Duration => Some(Value::String(go_duration(int(1)))),
        Special::Quantity => Some(match get(1) {
            Some(Value::String(s)) if !s.is_empty() => Value::String(s.clone()),
            _ => Value::String("0".into()),
        }),
        Special::IntOrString => match int(1) {
            0 => Some(Value::from(int(2))),
            1 => Some(get(3).cloned().unwrap_or_else(|| Value::String(String::new()))),
            t => return Err(invalid(name, format!("IntOrString type {t}"))),
        },
        Special::RawJson => match fields.iter().find(|(f, _)| f.tag == 1) {
            Some(_) => raw_json(desc, bytes, depth)?,
            None => None,
        },
        Special::SchemaOrArray => match get(2) {
            Some(Value::Array(a)) if !a.is_empty() => Some(Value::Array(a.clone())),
            _ => get(1).cloned(),
        },
        Special::SchemaOrBool => match get(2) {
            Some(schema) => Some(schema.clone()),
            None => Some(Value::Bool(get(1).and_then(Value::as_bool).unwrap_or(false))),
        },
        Special::SchemaOrStringArray => match get(2) {
            Some(Value::Array(a)) if !a.is_empty() => Some(Value::Array(a.clone())),
            _ => get(1).cloned(),
        },
        Special::StringList => Some(get(1).cloned().unwrap_or_else(|| Value::Array(Vec::new()))),
    })
}

/// The embedded JSON of a `{ bytes raw = 1 }` message (last occurrence wins).
fn raw_json(desc: &'static MessageDesc, bytes: &[u8], depth: usize) -> Result<Option<Value>, ProtobufError> {
    let mut raw: &[u8] = &[];
    for item in wire::fields(bytes) {
        if let (1, WireValue::Bytes(b)) = item? {
            raw = b;
        }
    }
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.starts_with(MAGIC) {
        return decode_body(raw, depth).map(Some);
    }
    serde_json::from_slice(raw).map(Some).map_err(|source| ProtobufError::InvalidJson { message: desc.name, source })
}

/// Whether a scalar's JSON value is its type's zero value (`""`, `0`, `false`).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null => true,
        _ => false,
    }
}

/// What was seen of one field while scanning a message.
enum Slot<'a> {
    Scalar(Value),
    /// Chunks of a singular message; protobuf merges repeated occurrences, as concatenation does.
    Message(Vec<&'a [u8]>),
    List(Vec<Value>),
    Map(Map<String, Value>),
}

/// Decodes the present fields of a message, in tag order, each to its JSON value (zeros included;
/// `None` for a message whose JSON form is absent).
fn decode_fields(desc: &'static MessageDesc, bytes: &[u8], depth: usize) -> Result<Vec<(&'static FieldDesc, Option<Value>)>, ProtobufError> {
    let mut slots: Vec<(&'static FieldDesc, Slot<'_>)> = Vec::new();
    for item in wire::fields(bytes) {
        let (tag, value) = item?;
        let Some(field) = desc.field(tag) else {
            continue;
        };
        let pos = match slots.iter().position(|(f, _)| f.tag == tag) {
            Some(p) => p,
            None => {
                let slot = match (field.card, field.ty) {
                    (Cardinality::Single, FieldType::Scalar(_)) => Slot::Scalar(Value::Null),
                    (Cardinality::Single, FieldType::Message(_)) => Slot::Message(Vec::new()),
                    (Cardinality::Repeated, _) => Slot::List(Vec::new()),
                    (Cardinality::Map(_), _) => Slot::Map(Map::new()),
                };
                slots.push((field, slot));
                slots.len() - 1
            }
        };
        match (&mut slots[pos].1, field.ty) {
            (Slot::Scalar(v), FieldType::Scalar(s)) => *v = scalar(s, &value, desc.name, tag)?,
            (Slot::Message(chunks), FieldType::Message(_)) => match value {
                WireValue::Bytes(b) => chunks.push(b),
                other => return Err(mismatch(desc.name, tag, &other)),
            },
            (Slot::List(list), FieldType::Scalar(s)) => match value {
                WireValue::Bytes(b) if !matches!(s, Scalar::String | Scalar::Bytes) => packed(s, b, desc.name, tag, list)?,
                other => list.push(scalar(s, &other, desc.name, tag)?),
            },
            (Slot::List(list), FieldType::Message(m)) => match value {
                WireValue::Bytes(b) => list.push(decode_message(&MESSAGES[m], b, depth + 1)?.unwrap_or(Value::Null)),
                other => return Err(mismatch(desc.name, tag, &other)),
            },
            (Slot::Map(map), _) => match value {
                WireValue::Bytes(b) => {
                    let (k, v) = map_entry(desc.name, field, b, depth)?;
                    map.insert(k, v);
                }
                other => return Err(mismatch(desc.name, tag, &other)),
            },
            _ => unreachable!("slot kinds follow the field's cardinality and type"),
        }
    }
    slots.sort_by_key(|(f, _)| f.tag);
    let mut out = Vec::with_capacity(slots.len());
    for (field, slot) in slots {
        let value = match slot {
            Slot::Scalar(v) => Some(v),
            Slot::Message(chunks) => {
                let FieldType::Message(m) = field.ty else { unreachable!() };
                let joined;
                let bytes: &[u8] = if chunks.len() == 1 {
                    chunks[0]
                } else {
                    joined = chunks.concat();
                    &joined
                };
                decode_message(&MESSAGES[m], bytes, depth + 1)?
            }
            Slot::List(list) => Some(Value::Array(list)),
            Slot::Map(map) => Some(Value::Object(map)),
        };
        out.push((field, value));
    }
    Ok(out)
}

/// Decodes one `{ key = 1; value = 2 }` map entry.
fn map_entry(message: &'static str, field: &'static FieldDesc, bytes: &[u8], depth: usize) -> Result<(String, Value), ProtobufError> {
    let Cardinality::Map(key_type) = field.card else { unreachable!() };
    let mut key = None;
    let mut value: Option<WireValue<'_>> = None;
    for item in wire::fields(bytes) {
        match item? {
            (1, v) => key = Some(scalar(key_type, &v, message, field.tag)?),
            (2, v) => value = Some(v),
            _ => {}
        }
    }
    let key = match key {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => match key_type {
            Scalar::String | Scalar::Bytes => String::new(),
            Scalar::Bool => "false".into(),
            _ => "0".into(),
        },
    };
    let value = match field.ty {
        FieldType::Scalar(s) => match value {
            Some(v) => scalar(s, &v, message, field.tag)?,
            None => zero_of(s),
        },
        FieldType::Message(m) => {
            let b = match value {
                Some(WireValue::Bytes(b)) => b,
                Some(other) => return Err(mismatch(message, field.tag, &other)),
                None => &[],
            };
            decode_message(&MESSAGES[m], b, depth + 1)?.unwrap_or(Value::Null)
        }
    };
    Ok((key, value))
}

fn zero_of(s: Scalar) -> Value {
    match s {
        Scalar::String | Scalar::Bytes => Value::String(String::new()),
        Scalar::Bool => Value::Bool(false),
        Scalar::Double | Scalar::Float => Value::from(0.0),
        _ => Value::from(0),
    }
}

/// Decodes a packed run of numeric values.
fn packed(s: Scalar, bytes: &[u8], message: &'static str, tag: u32, out: &mut Vec<Value>) -> Result<(), ProtobufError> {
    use Scalar::*;
    if matches!(s, Double | Fixed64 | Sfixed64 | Float | Fixed32 | Sfixed32) {
        return packed_fixed(s, bytes, message, tag, out);
    }
    let mut r = wire::Reader::new(bytes);
    while !r.is_empty() {
        out.push(scalar(s, &WireValue::Varint(r.varint()?), message, tag)?);
    }
    Ok(())
}

fn packed_fixed(s: Scalar, bytes: &[u8], message: &'static str, tag: u32, out: &mut Vec<Value>) -> Result<(), ProtobufError> {
    let width = if matches!(s, Scalar::Double | Scalar::Fixed64 | Scalar::Sfixed64) { 8 } else { 4 };
    if !bytes.len().is_multiple_of(width) {
        return Err(ProtobufError::Malformed("packed fixed-width field has a partial value".into()));
    }
    for chunk in bytes.chunks_exact(width) {
        let v = if width == 8 {
            WireValue::Fixed64(u64::from_le_bytes(chunk.try_into().expect("8 bytes")))
        } else {
            WireValue::Fixed32(u32::from_le_bytes(chunk.try_into().expect("4 bytes")))
        };
        out.push(scalar(s, &v, message, tag)?);
    }
    Ok(())
}

/// The JSON value of one scalar.
fn scalar(s: Scalar, v: &WireValue<'_>, message: &'static str, tag: u32) -> Result<Value, ProtobufError> {
    use Scalar::*;
    Ok(match (s, *v) {
        (String, WireValue::Bytes(b)) => Value::String(utf8(b, message, tag)?),
        (Bytes, WireValue::Bytes(b)) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        (Bool, WireValue::Varint(x)) => Value::Bool(x != 0),
        (Int32, WireValue::Varint(x)) => Value::from(x as i64 as i32),
        (Int64, WireValue::Varint(x)) => Value::from(x as i64),
        (Uint32, WireValue::Varint(x)) => Value::from(x as u32),
        (Uint64, WireValue::Varint(x)) => Value::from(x),
        (Sint32, WireValue::Varint(x)) => Value::from((((x as u32) >> 1) as i32) ^ -((x as u32 & 1) as i32)),
        (Sint64, WireValue::Varint(x)) => Value::from(((x >> 1) as i64) ^ -((x & 1) as i64)),
        (Fixed64, WireValue::Fixed64(x)) => Value::from(x),
        (Sfixed64, WireValue::Fixed64(x)) => Value::from(x as i64),
        (Fixed32, WireValue::Fixed32(x)) => Value::from(x),
        (Sfixed32, WireValue::Fixed32(x)) => Value::from(x as i32),
        (Double, WireValue::Fixed64(x)) => float(f64::from_bits(x), message)?,
        (Float, WireValue::Fixed32(x)) => float(f64::from(f32::from_bits(x)), message)?,
        _ => return Err(mismatch(message, tag, v)),
    })
}

fn float(f: f64, message: &'static str) -> Result<Value, ProtobufError> {
    Number::from_f64(f).map(Value::Number).ok_or_else(|| invalid(message, "NaN or infinite number"))
}

/// RFC 3339 in UTC: `2024-01-02T03:04:05Z`, or with 6 fraction digits for `MicroTime`.
fn format_time(seconds: i64, nanos: i64, micro: bool, message: &'static str) -> Result<String, ProtobufError> {
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    let ts = jiff::Timestamp::from_nanosecond(total).map_err(|e| invalid(message, e.to_string()))?;
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    if !(0..=9999).contains(&dt.year()) {
        return Err(invalid(message, "year outside of [0,9999]"));
    }
    let mut s = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", dt.year(), dt.month(), dt.day(), dt.hour(), dt.minute(), dt.second());
    if micro {
        s.push_str(&format!(".{:06}", dt.subsec_nanosecond() / 1000));
    }
    s.push('Z');
    Ok(s)
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5µs`, `0s`.
pub(super) fn go_duration(d: i64) -> String {
    if d == 0 {
        return "0s".into();
    }
    let mut u = d.unsigned_abs();
    // Built backwards, like Go does.
    let mut buf: Vec<char> = Vec::new();
    let frac = |buf: &mut Vec<char>, mut v: u64, prec: u32| -> u64 {
        let mut print = false;
        for _ in 0..prec {
            let digit = v % 10;
            print = print || digit != 0;
            if print {
                buf.push(char::from(b'0' + digit as u8));
            }
            v /= 10;
        }
        if print {
            buf.push('.');
        }
        v
    };
    let int = |buf: &mut Vec<char>, mut v: u64| {
        if v == 0 {
            buf.push('0');
        }
        while v > 0 {
            buf.push(char::from(b'0' + (v % 10) as u8));
            v /= 10;
        }
    };
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0..=999 => (0, "sn"),
            1_000..=999_999 => (3, "sµ"),
            _ => (6, "sm"),
        };
        buf.extend(unit.chars());
        u = frac(&mut buf, u, prec);
        int(&mut buf, u);
    } else {
        buf.push('s');
        u = frac(&mut buf, u, 9);
        int(&mut buf, u % 60);
        u /= 60;
        if u > 0 {
            buf.push('m');
            int(&mut buf, u % 60);
            u /= 60;
            if u > 0 {
                buf.push('h');
                int(&mut buf, u);
            }
        }
    }
    if d < 0 {
        buf.push('-');
    }
    buf.iter().rev().collect()
}
