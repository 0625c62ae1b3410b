//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).
//!
//! kubectl 1.32+ sends the bodies of its typed clients (`create namespace`, `create deployment`,
//! `auth can-i`, `auth whoami`, …) as protobuf. The server stores and serves JSON, so
//! [`decode_body`] turns such a body into the JSON object that the JSON encoding of the same Go
//! object would have given.
//!
//! The body is the magic prefix `k8s\0` followed by a `runtime.Unknown` message
//! `{ TypeMeta typeMeta = 1 { apiVersion = 1; kind = 2 }; bytes raw = 2; string contentEncoding = 3;
//! string contentType = 4 }` whose `raw` is the object's own message.
//!
//! The schema of every message comes from a table generated at build time (see `build.rs`) out of
//! the `k8s-pb` and `k8s-openapi` crate sources: per message its fields' tags, JSON names, types and
//! whether a zero value is kept. Go's gogo-protobuf marshals every non-pointer field even when it
//! is zero, while `encoding/json` drops `omitempty` zeros; a present zero scalar is therefore kept
//! only where the JSON encoding would have emitted it (Go pointers, fields without `omitempty`).
//! Present messages are always kept, even when empty (`resources: {}`, `emptyDir: {}`), exactly as
//! `encoding/json` does for structs, except that a zero `metav1.Time` (JSON `null`) is omitted.
//!
//! Well-known messages get their JSON forms: `Time`/`MicroTime` → RFC 3339 strings, `Duration` →
//! Go duration strings, `Quantity` → string, `IntOrString` → number or string, `RawExtension`,
//! `FieldsV1` and apiextensions `JSON` → embedded JSON, `bytes` → base64 strings, string-list
//! wrappers (`Verbs`, `ExtraValue`) → arrays, maps → objects.

mod decode;
mod wire;

#[cfg(test)]
mod tests;

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\x00";

/// Errors decoding a Kubernetes protobuf body.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with the `k8s\0` magic prefix.
    #[error("body does not start with the Kubernetes protobuf prefix \"k8s\\0\"")]
    MissingMagic,
    /// The bytes are not valid protobuf wire data (truncated, bad varint, bad length, …).
    #[error("malformed protobuf data: {0}")]
    Malformed(String),
    /// A known field arrived with a wire type that its declared type cannot have.
    #[error("field {tag} of {message} has wire type {wire_type}, which does not fit its declared type")]
    WireTypeMismatch {
        /// Full protobuf name of the message being decoded.
        message: &'static str,
        /// The field number.
        tag: u32,
        /// The wire type found.
        wire_type: u8,
    },
    /// The `runtime.Unknown` envelope has no apiVersion or kind.
    #[error("the runtime.Unknown envelope carries no apiVersion/kind")]
    MissingTypeMeta,
    /// No message schema is known for this apiVersion and kind.
    #[error("no protobuf schema for apiVersion {api_version:?}, kind {kind:?}")]
    UnknownKind {
        /// The apiVersion of the envelope.
        api_version: String,
        /// The kind of the envelope.
        kind: String,
    },
    /// The envelope declares a content encoding (such as gzip) that is not supported.
    #[error("unsupported contentEncoding {0:?} in the runtime.Unknown envelope")]
    UnsupportedContentEncoding(String),
    /// A string field holds bytes that are not UTF-8.
    #[error("field {tag} of {message} is not valid UTF-8")]
    InvalidUtf8 {
        /// Full protobuf name of the message being decoded.
        message: &'static str,
        /// The field number.
        tag: u32,
    },
    /// A field that embeds JSON (`RawExtension`, `FieldsV1`, apiextensions `JSON`) holds invalid JSON.
    #[error("{message} holds invalid embedded JSON: {source}")]
    InvalidJson {
        /// Full protobuf name of the embedding message.
        message: &'static str,
        /// The JSON parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A value that the JSON encoding cannot represent (time out of range, NaN, bad IntOrString type).
    #[error("invalid value in {message}: {detail}")]
    InvalidValue {
        /// Full protobuf name of the message being decoded.
        message: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// Messages are nested deeper than [`MAX_DEPTH`].
    #[error("messages nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// How deeply messages may nest before decoding gives up (protects the stack).
pub const MAX_DEPTH: usize = 100;

/// Decodes a `application/vnd.kubernetes.protobuf` request body into the JSON object
/// (with apiVersion and kind set) that the JSON encoding of the same object would give.
pub fn decode_body(body: &[u8]) -> Result<serde_json::Value, ProtobufError> {
    decode::decode_body(body, 0)
}

/// Whether a message of this apiVersion and kind can be decoded.
pub fn is_known_kind(api_version: &str, kind: &str) -> bool {
    find_kind(api_version, kind).is_some()
}

// ---------------------------------------------------------------------------------------------
// Descriptor table (generated by build.rs)

/// A protobuf scalar type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)]
pub(crate) enum Scalar {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Double,
    Float,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
}

/// The type of a field (of a map's value, for maps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldType {
    Scalar(Scalar),
    /// Index into [`MESSAGES`].
    Message(usize),
}

/// Singular, repeated, or a map with this key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cardinality {
    Single,
    Repeated,
    Map(Scalar),
}

/// Messages whose JSON form is not an object of their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    None,
    /// `metav1.Time` {seconds, nanos}: RFC 3339 with second precision.
    Time,
    /// `metav1.MicroTime`: RFC 3339 with 6 fraction digits.
    MicroTime,
    /// `metav1.Duration` {duration ns}: Go duration string.
    Duration,
    /// `resource.Quantity` {string}: the string.
    Quantity,
    /// `intstr.IntOrString` {type, intVal, strVal}.
    IntOrString,
    /// `RawExtension`, `FieldsV1`, apiextensions `JSON` {raw}: the embedded JSON.
    RawJson,
    /// `JSONSchemaPropsOrArray`: the array if non-empty, else the schema.
    SchemaOrArray,
    /// `JSONSchemaPropsOrBool`: the schema if set, else the bool.
    SchemaOrBool,
    /// `JSONSchemaPropsOrStringArray`: the array if non-empty, else the schema.
    SchemaOrStringArray,
    /// `{ repeated string items = 1 }` wrappers (`Verbs`, `ExtraValue`): the array.
    StringList,
}

/// One field of a message.
#[derive(Debug)]
pub(crate) struct FieldDesc {
    pub tag: u32,
    /// The JSON name (the proto field name in Kubernetes' generated.proto).
    pub json: &'static str,
    pub ty: FieldType,
    pub card: Cardinality,
    /// `Option<..>` in k8s-openapi (not a required field).
    #[allow(dead_code)]
    pub optional: bool,
    /// A present zero value is emitted by the JSON encoding (Go pointer or no `omitempty`).
    pub keep_zero: bool,
    /// An embedded Go struct with `json:",inline"`: its fields go into the parent object.
    pub inline: bool,
}

/// One message, keyed by its full protobuf name (`k8s.io.api.core.v1.Pod`).
#[derive(Debug)]
pub(crate) struct MessageDesc {
    pub name: &'static str,
    pub special: Special,
    /// Sorted by tag.
    pub fields: &'static [FieldDesc],
}

impl MessageDesc {
    pub(crate) fn field(&self, tag: u32) -> Option<&'static FieldDesc> {
        self.fields.binary_search_by_key(&tag, |f| f.tag).ok().map(|i| &self.fields[i])
    }
}

// `MESSAGES` (sorted by name) and `KINDS` ((apiVersion, kind, message index), sorted).
include!(concat!(env!("OUT_DIR"), "/protobuf_descriptors.rs"));

/// The descriptor of a message by full protobuf name.
pub(crate) fn message_by_name(name: &str) -> Option<&'static MessageDesc> {
    MESSAGES.binary_search_by(|m| m.name.cmp(name)).ok().map(|i| &MESSAGES[i])
}

/// The descriptor of the top-level message for an apiVersion and kind. Kinds not registered in a
/// group version fall back to the `meta/v1` message of that name (`DeleteOptions`, `Status`, …).
pub(crate) fn find_kind(api_version: &str, kind: &str) -> Option<&'static MessageDesc> {
    KINDS.binary_search_by(|(av, k, _)| (*av, *k).cmp(&(api_version, kind))).ok().map(|i| &MESSAGES[KINDS[i].2]).or_else(|| {
        if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        message_by_name(&format!("k8s.io.apimachinery.pkg.apis.meta.v1.{kind}")).filter(|m| m.special == Special::None)
    })
}
