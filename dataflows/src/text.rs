//! [`Text`]: the shared immutable text that contents, bodies and patches travel as, kept
//! compressed when that makes it smaller.
//!
//! A desired Endpoints or EndpointSlice content is the whole object's managed JSON, and every
//! Service has one: at 15 pods a Service, about 390 bytes a pod, as much as the pod's own
//! JSON. Its endpoints repeat the same keys and differ in a few names and addresses, so
//! zstd at its fastest level keeps it in a fifth of that (measured on the churn bench's
//! contents: 3,673 → 682 bytes for a slice of 15, 2,150 → 496 for their Endpoints).
//!
//! **Invariant:** the stored form is a function of the string alone (the same length
//! threshold, level and library for every [`Text`] made in the process, and zstd is
//! deterministic for those), so two texts are equal exactly when their strings are, and
//! equal texts hash alike. Their order is the order of the stored bytes: total and
//! consistent, which is all the arrangements need, but not the order of the strings.
//! Texts cross processes as their strings and are stored again on arrival.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Texts shorter than this are kept as they are: a frame's header and the hash tables'
/// warm-up would win little on them.
const COMPRESS_FROM: usize = 256;
/// zstd's fastest standard level: compressing a 3 KiB content takes microseconds. It must
/// stay a level of the `fast` or `dfast` strategy (1 to 4): from the greedy strategy on, zstd
/// 1.5's row match finder salts its hash when a context is reused, so the frame would depend
/// on what the thread's context compressed before, and equal strings would stop making equal
/// texts.
const LEVEL: i32 = 1;

const PLAIN: u8 = 0;
const ZSTD: u8 = 1;

/// Shared immutable text: a clone copies a pointer, so the arrangements that hold a content
/// (desired, observed, intents) merge and compact without copying it, and every arrangement
/// of one content shares one copy. Stored as `[PLAIN, utf-8…]` or, when that is smaller, as
/// `[ZSTD, length as u32 LE, frame…]`; [`Text::to_str`] gives the string back.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(Arc<[u8]>);

thread_local! {
    static COMPRESSOR: RefCell<zstd::bulk::Compressor<'static>> =
        RefCell::new(zstd::bulk::Compressor::new(LEVEL).expect("a zstd compression context"));
    static DECOMPRESSOR: RefCell<zstd::bulk::Decompressor<'static>> =
        RefCell::new(zstd::bulk::Decompressor::new().expect("a zstd decompression context"));
}

impl Text {
    /// The text as a string: borrowed when stored plain, decompressed otherwise.
    pub fn to_str(&self) -> Cow<'_, str> {
        match self.0.split_first() {
            Some((&ZSTD, rest)) => {
                let (length, frame) = rest.split_at(4);
                let length = u32::from_le_bytes(length.try_into().expect("four bytes")) as usize;
                let bytes =
                    DECOMPRESSOR.with(|d| d.borrow_mut().decompress(frame, length)).expect("a text's frame decompresses: it was written by this process");
                Cow::Owned(String::from_utf8(bytes).expect("a text was utf-8 when stored"))
            }
            Some((_, plain)) => Cow::Borrowed(std::str::from_utf8(plain).expect("a text was utf-8 when stored")),
            None => Cow::Borrowed(""),
        }
    }

    /// The bytes held for this text, tag included: what it costs the arrangements.
    pub fn stored_len(&self) -> usize {
        self.0.len()
    }

    fn store(s: &str) -> Text {
        if s.len() >= COMPRESS_FROM && s.len() <= u32::MAX as usize {
            let frame = COMPRESSOR.with(|c| c.borrow_mut().compress(s.as_bytes()));
            if let Ok(frame) = frame {
                if frame.len() + 5 < s.len() + 1 {
                    return Text::tagged(ZSTD, &[&(s.len() as u32).to_le_bytes(), &frame]);
                }
            }
        }
        Text::tagged(PLAIN, &[s.as_bytes()])
    }

    /// `tag` followed by `parts`, in one allocation of exactly their size.
    fn tagged(tag: u8, parts: &[&[u8]]) -> Text {
        let mut stored = Vec::with_capacity(1 + parts.iter().map(|p| p.len()).sum::<usize>());
        stored.push(tag);
        for part in parts {
            stored.extend_from_slice(part);
        }
        Text(stored.into())
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::store("")
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::store(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::store(&s)
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text::store(s)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.to_str(), f)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        Cow::<'de, str>::deserialize(deserializer).map(|s| Text::store(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints_like(pods: usize) -> String {
        let addresses: Vec<String> = (0..pods)
            .map(|i| {
                format!(
                    r#"{{"ip":"10.0.{}.{}","nodeName":"node-{}","targetRef":{{"kind":"Pod","namespace":"ns-7","name":"web-{i}","uid":"uid-{i}"}}}}"#,
                    i / 256,
                    i % 256,
                    i * 7 % 500
                )
            })
            .collect();
        format!(r#"{{"metadata":{{"labels":{{"app":"web"}}}},"subsets":[{{"addresses":[{}]}}]}}"#, addresses.join(","))
    }

    #[test]
    fn short_texts_are_kept_plain_and_long_ones_compressed_and_both_read_back() {
        let short = Text::from("{\"a\":1}");
        assert_eq!(short.stored_len(), 8);
        assert_eq!(short.to_str(), "{\"a\":1}");
        let long = endpoints_like(15);
        let text = Text::from(long.as_str());
        assert!(text.stored_len() * 3 < long.len(), "{} bytes stored for {}", text.stored_len(), long.len());
        assert_eq!(text.to_str(), long);
        assert_eq!(text.to_string(), long);
        assert_eq!(Text::default().to_str(), "");
    }

    #[test]
    fn equal_strings_make_equal_texts_and_different_ones_differ() {
        // The thread's context has compressed something else first.
        let _ = Text::from(endpoints_like(300));
        let a = endpoints_like(40);
        let mut b = a.clone();
        b.replace_range(b.len() - 10..b.len() - 9, "x");
        assert_eq!(Text::from(a.as_str()), Text::from(a.clone()));
        assert_ne!(Text::from(a.as_str()), Text::from(b.as_str()));
        let hash = |t: &Text| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            t.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&Text::from(a.as_str())), hash(&Text::from(a.as_str())));
        // Made on another thread, by a fresh context: the same bytes.
        let elsewhere = std::thread::spawn({
            let a = a.clone();
            move || Text::from(a)
        })
        .join()
        .unwrap();
        assert_eq!(elsewhere, Text::from(a));
    }

    #[test]
    fn a_text_crosses_serde_as_its_string() {
        let long = endpoints_like(20);
        let text = Text::from(long.as_str());
        let json = serde_json::to_string(&text).unwrap();
        assert_eq!(json, serde_json::to_string(&long).unwrap());
        assert_eq!(serde_json::from_str::<Text>(&json).unwrap(), text);
    }

    #[test]
    fn a_text_is_never_stored_longer_than_plain() {
        // Pseudo-random hex: little for zstd to find.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let noise: String = (0..400)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from_digit((x % 16) as u32, 16).unwrap()
            })
            .collect();
        let text = Text::from(noise.as_str());
        assert_eq!(text.to_str(), noise);
        assert!(text.stored_len() <= noise.len() + 1);
    }
}
