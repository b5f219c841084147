//! Reading a document's text into a JSON value, as published documents are written.
//!
//! - JSON text (it starts with `{`) is read with `serde_json`, which decodes UTF-16
//!   surrogate-pair escapes (`"\ud83d\udc4d"`, Twilio's examples) that the YAML parser
//!   refuses; YAML is the fallback when that fails.
//! - YAML is read with a visitor that takes integers beyond 64 bits (OpenAI's
//!   `minimum: -9223372036854776000`) as floating-point numbers, where reading into a
//!   `serde_json::Value` directly fails the whole document, and map keys that are not
//!   strings (`200:` unquoted) as their text.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses JSON or YAML text into a JSON value; the message carries line and column.
pub fn parse(text: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('{')
        && let Ok(value) = serde_json::from_str::<Value>(text)
    {
        return Ok(value);
    }
    let loose: Loose = serde_norway::from_str(text).map_err(|e| e.to_string())?;
    Ok(loose.0)
}

/// A JSON value read leniently (see the module docs).
struct Loose(Value);

impl<'de> serde::Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LooseVisitor).map(Loose)
    }
}

/// A map key: strings as they are, numbers and booleans as their text.
struct Key(String);

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = d.deserialize_any(LooseVisitor)?;
        Ok(Key(match value {
            Value::String(s) => s,
            Value::Null => "null".to_owned(),
            other => other.to_string(),
        }))
    }
}

struct LooseVisitor;

fn float(v: f64) -> Value {
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    #[allow(clippy::cast_precision_loss)]
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or_else(|_| float(v as f64), Value::from))
    }
    #[allow(clippy::cast_precision_loss)]
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(u64::try_from(v).map_or_else(|_| float(v as f64), Value::from))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Loose(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((Key(k), Loose(v))) = map.next_entry()? {
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse;
    use serde_json::json;

    #[test]
    fn big_integers_surrogates_and_integer_keys_are_read() {
        let yaml =
            "a:\n  minimum: -9223372036854776000\n  max: 18446744073709551616\nr:\n  200: {d: 1}\n";
        let v = parse(yaml).unwrap();
        assert_eq!(v["a"]["minimum"], json!(-9.223372036854776e18));
        assert!(v["a"]["max"].is_f64());
        assert_eq!(v["r"]["200"]["d"], 1);
        let v = parse(r#"{"body": "Hello! \ud83d\udc4d"}"#).unwrap();
        assert_eq!(v["body"], "Hello! \u{1f44d}");
        // JSON that serde_json refuses is still tried as YAML (and fails with a position).
        let err = parse("{a: [1, 2\n").unwrap_err();
        assert!(err.contains("line"), "{err}");
    }
}
