//! A small CBOR value type over `minicbor`, enough for Smithy RPC v2 CBOR bodies.
//!
//! `minicbor` is already compiled into every build through the AWS SDK's CBOR codec,
//! so the simulator reuses it rather than carrying a second CBOR implementation.
//! This module decodes whole documents into [`Value`] and encodes [`Value`] back;
//! it never interprets what the values mean.

use minicbor::data::{IanaTag, Tag, Type};

/// One CBOR data item.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    /// Tag 1, epoch seconds (Smithy timestamps).
    Timestamp(f64),
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("malformed CBOR: {0}")]
pub struct DecodeError(String);

impl Value {
    /// Looks up a text key in a map; `None` for other values or a missing key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => {
                entries.iter().find(|(k, _)| matches!(k, Value::Text(t) if t == key)).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 => Some(*f as i64),
            _ => None,
        }
    }

    /// Epoch seconds of a timestamp (tag 1 with an integer or float).
    pub fn as_timestamp(&self) -> Option<f64> {
        match self {
            Value::Timestamp(t) => Some(*t),
            _ => None,
        }
    }

    /// Builds a map from text keys.
    pub fn map<I, K>(entries: I) -> Value
    where
        I: IntoIterator<Item = (K, Value)>,
        K: Into<String>,
    {
        Value::Map(entries.into_iter().map(|(k, v)| (Value::Text(k.into()), v)).collect())
    }

    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }
}

/// Decodes one complete CBOR document; trailing bytes are an error.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut decoder = minicbor::Decoder::new(bytes);
    let value = decode_item(&mut decoder, 0)?;
    if decoder.position() != bytes.len() {
        return Err(DecodeError(format!("{} trailing bytes after the document", bytes.len() - decoder.position())));
    }
    Ok(value)
}

/// Encodes a value as one CBOR document.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut encoder = minicbor::Encoder::new(Vec::new());
    encode_item(&mut encoder, value);
    encoder.into_writer()
}

const MAX_DEPTH: u32 = 64;

fn err(e: minicbor::decode::Error) -> DecodeError {
    DecodeError(e.to_string())
}

fn decode_item(d: &mut minicbor::Decoder<'_>, depth: u32) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError("nesting deeper than 64 levels".into()));
    }
    let value = match d.datatype().map_err(err)? {
        Type::Null | Type::Undefined => {
            d.skip().map_err(err)?;
            Value::Null
        }
        Type::Bool => Value::Bool(d.bool().map_err(err)?),
        Type::U8 | Type::U16 | Type::U32 | Type::U64 => {
            let n = d.u64().map_err(err)?;
            Value::Int(i64::try_from(n).map_err(|_| DecodeError("integer too large".into()))?)
        }
        Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => Value::Int(d.i64().map_err(err)?),
        Type::F16 | Type::F32 | Type::F64 => Value::Float(d.f64().map_err(err)?),
        Type::String => Value::Text(d.str().map_err(err)?.to_owned()),
        Type::StringIndef => {
            let mut s = String::new();
            for chunk in d.str_iter().map_err(err)? {
                s.push_str(chunk.map_err(err)?);
            }
            Value::Text(s)
        }
        Type::Bytes => Value::Bytes(d.bytes().map_err(err)?.to_vec()),
        Type::BytesIndef => {
            let mut b = Vec::new();
            for chunk in d.bytes_iter().map_err(err)? {
                b.extend_from_slice(chunk.map_err(err)?);
            }
            Value::Bytes(b)
        }
        Type::Array | Type::ArrayIndef => {
            let mut items = Vec::new();
            match d.array().map_err(err)? {
                Some(n) => {
                    for _ in 0..n {
                        items.push(decode_item(d, depth + 1)?);
                    }
                }
                None => loop {
                    if d.datatype().map_err(err)? == Type::Break {
                        d.skip().map_err(err)?;
                        break;
                    }
                    items.push(decode_item(d, depth + 1)?);
                },
            }
            Value::Array(items)
        }
        Type::Map | Type::MapIndef => {
            let mut entries = Vec::new();
            match d.map().map_err(err)? {
                Some(n) => {
                    for _ in 0..n {
                        let k = decode_item(d, depth + 1)?;
                        let v = decode_item(d, depth + 1)?;
                        entries.push((k, v));
                    }
                }
                None => loop {
                    if d.datatype().map_err(err)? == Type::Break {
                        d.skip().map_err(err)?;
                        break;
                    }
                    let k = decode_item(d, depth + 1)?;
                    let v = decode_item(d, depth + 1)?;
                    entries.push((k, v));
                },
            }
            Value::Map(entries)
        }
        Type::Tag => {
            let tag = d.tag().map_err(err)?;
            if tag != Tag::from(IanaTag::Timestamp) {
                return Err(DecodeError(format!("unsupported tag {tag:?}")));
            }
            let secs = match d.datatype().map_err(err)? {
                Type::F16 | Type::F32 | Type::F64 => d.f64().map_err(err)?,
                _ => d.i64().map_err(err)? as f64,
            };
            Value::Timestamp(secs)
        }
        other => return Err(DecodeError(format!("unsupported data type {other}"))),
    };
    Ok(value)
}

fn encode_item(e: &mut minicbor::Encoder<Vec<u8>>, value: &Value) {
    // Writing into a Vec cannot fail.
    let infallible = "writing CBOR into a Vec<u8> cannot fail";
    match value {
        Value::Null => {
            e.null().expect(infallible);
        }
        Value::Bool(b) => {
            e.bool(*b).expect(infallible);
        }
        Value::Int(i) => {
            e.i64(*i).expect(infallible);
        }
        Value::Float(f) => {
            e.f64(*f).expect(infallible);
        }
        Value::Text(t) => {
            e.str(t).expect(infallible);
        }
        Value::Bytes(b) => {
            e.bytes(b).expect(infallible);
        }
        Value::Array(items) => {
            e.array(items.len() as u64).expect(infallible);
            for item in items {
                encode_item(e, item);
            }
        }
        Value::Map(entries) => {
            e.map(entries.len() as u64).expect(infallible);
            for (k, v) in entries {
                encode_item(e, k);
                encode_item(e, v);
            }
        }
        Value::Timestamp(secs) => {
            e.tag(Tag::from(IanaTag::Timestamp)).expect(infallible);
            e.f64(*secs).expect(infallible);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_survives_an_encode_decode_round_trip() {
        let doc = Value::map([
            ("Id", Value::text("q0")),
            ("Values", Value::Array(vec![Value::Float(1.5), Value::Int(-3)])),
            ("When", Value::Timestamp(1_700_000_000.0)),
            ("Ok", Value::Bool(true)),
            ("Nothing", Value::Null),
        ]);
        assert_eq!(decode(&encode(&doc)).expect("round trip"), doc);
    }

    #[test]
    fn indefinite_length_maps_and_strings_decode() {
        // {_ "a": (_ "x", "y")} written with indefinite lengths.
        let bytes = [0xbf, 0x61, b'a', 0x7f, 0x61, b'x', 0x61, b'y', 0xff, 0xff];
        let v = decode(&bytes).expect("valid indefinite CBOR");
        assert_eq!(v.get("a").and_then(Value::as_str), Some("xy"));
    }

    #[test]
    fn an_integer_timestamp_is_read_as_epoch_seconds() {
        // tag 1 followed by unsigned 1000.
        let bytes = [0xc1, 0x19, 0x03, 0xe8];
        assert_eq!(decode(&bytes).expect("valid").as_timestamp(), Some(1000.0));
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        assert!(decode(&[0x01, 0x02]).is_err());
    }
}
