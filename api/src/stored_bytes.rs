//! An object's stored bytes, marked where its metadata's fields begin, so that the object as
//! a write answers it (what was stored, plus its `resourceVersion`) is made from the bytes
//! instead of serializing the object again, or copying it to keep one for the answer.
//!
//! A create or update encodes the object once for the store; the object itself then goes to
//! the watch cache as its offer, and the response is these bytes with the revision spliced in.

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::store::Revision;

/// An object's bytes as the store keeps them (every field but `resourceVersion` and `selfLink`
/// in its metadata; [`crate::object::encode`]), with the offset just inside its metadata.
#[derive(Debug, Clone)]
pub struct StoredBytes {
    pub bytes: Bytes,
    /// Just past the `{` of the top-level `metadata` object; `None` when there is none.
    metadata_fields_at: Option<usize>,
}

impl StoredBytes {
    /// Encodes `object` for the store, marking its metadata.
    pub fn encode(object: &Value) -> ApiResult<StoredBytes> {
        let Value::Object(top) = object else {
            let bytes = serde_json::to_vec(object).map_err(ApiError::internal)?;
            return Ok(StoredBytes { bytes: Bytes::from(bytes), metadata_fields_at: None });
        };
        let mut out = Vec::with_capacity(2048);
        let mut metadata_fields_at = None;
        out.push(b'{');
        for (i, (k, v)) in top.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, k).map_err(ApiError::internal)?;
            out.push(b':');
            match v {
                Value::Object(meta) if k == "metadata" => {
                    metadata_fields_at = Some(out.len() + 1);
                    serde_json::to_writer(&mut out, &crate::object::StoredMeta(meta)).map_err(ApiError::internal)?;
                }
                _ => serde_json::to_writer(&mut out, v).map_err(ApiError::internal)?,
            }
        }
        out.push(b'}');
        Ok(StoredBytes { bytes: Bytes::from(out), metadata_fields_at })
    }

    /// The object as served at `revision` (as [`crate::object::decode_at`] reads it back),
    /// as JSON.
    pub fn served(&self, revision: Revision) -> ApiResult<Bytes> {
        match self.spliced(revision) {
            Some(bytes) => Ok(bytes),
            None => serde_json::to_vec(&crate::object::decode_at(&self.bytes, revision)?).map(Bytes::from).map_err(ApiError::internal),
        }
    }

    /// The stored fields with `resourceVersion` first in the metadata; `None` for an object
    /// without metadata.
    fn spliced(&self, revision: Revision) -> Option<Bytes> {
        let at = self.metadata_fields_at?;
        let stamp = format!("\"resourceVersion\":\"{revision}\"");
        let mut out = BytesMut::with_capacity(self.bytes.len() + stamp.len() + 1);
        out.put_slice(&self.bytes[..at]);
        out.put_slice(stamp.as_bytes());
        if self.bytes[at] != b'}' {
            out.put_u8(b',');
        }
        out.put_slice(&self.bytes[at..]);
        Some(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_bytes_are_the_stores_and_the_served_object_is_the_stored_one_at_its_revision() {
        let objects = [
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "resourceVersion": "3", "selfLink": "/x", "labels": {"metadata": "{"}},
                   "spec": {"template": {"metadata": {"name": "inner"}}}}),
            json!({"spec": {"metadata": {}}, "metadata": {"resourceVersion": "9"}}),
            json!({"kind": "Empty", "metadata": {}}),
        ];
        for object in objects {
            let stored = StoredBytes::encode(&object).unwrap();
            assert_eq!(stored.bytes, crate::object::encode(&object).unwrap(), "{object}");
            let served: Value = serde_json::from_slice(&stored.served(42).unwrap()).unwrap();
            let mut expected = object.clone();
            crate::object::as_stored_at(&mut expected, 42);
            assert_eq!(served, expected);
        }
    }

    #[test]
    fn an_object_without_metadata_is_served_as_read_back() {
        for object in [json!({"kind": "X"}), json!({"kind": "X", "metadata": "odd"})] {
            let stored = StoredBytes::encode(&object).unwrap();
            assert_eq!(stored.bytes, crate::object::encode(&object).unwrap());
            assert!(stored.spliced(1).is_none());
            let served: Value = serde_json::from_slice(&stored.served(1).unwrap()).unwrap();
            assert_eq!(served, crate::object::decode_at(&stored.bytes, 1).unwrap());
        }
    }
}
