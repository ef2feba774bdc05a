//! JSON parsing that refuses duplicate member names, at any depth.
//!
//! serde_json keeps the last of two members with the same name, silently. For a token that is a
//! hole: `{"sub":"alice","sub":"admin"}` is `admin` to us and may be `alice` to a gateway whose
//! parser keeps the first. RFC 7515 §5.2 and RFC 7519 §4 allow a recipient to reject such JSON; a
//! token service must, so that every party reads one meaning from the signed bytes.

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::RefCell;
use std::fmt;

/// Why strict parsing failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrictJsonError {
    /// Not JSON at all (or nested deeper than serde_json's limit of 128).
    Syntax,
    /// An object has two members with this name.
    DuplicateMember(String),
}

impl fmt::Display for StrictJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrictJsonError::Syntax => f.write_str("not valid JSON"),
            StrictJsonError::DuplicateMember(name) => {
                write!(f, "member {name:?} appears more than once")
            }
        }
    }
}

impl std::error::Error for StrictJsonError {}

/// Parses `bytes` as one JSON value; any object with a repeated member name is an error.
pub fn parse(bytes: &[u8]) -> Result<Value, StrictJsonError> {
    // The duplicate's name travels beside serde's stringly error, so that the caller gets a
    // typed answer instead of having to read one out of a message.
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = Seed(&duplicate)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    match (parsed, duplicate.into_inner()) {
        (_, Some(name)) => Err(StrictJsonError::DuplicateMember(name)),
        (Ok(v), None) => Ok(v),
        (Err(_), None) => Err(StrictJsonError::Syntax),
    }
}

#[derive(Clone, Copy)]
struct Seed<'a>(&'a RefCell<Option<String>>);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                let e = A::Error::custom("duplicate member name");
                *self.0.borrow_mut() = Some(k);
                return Err(e);
            }
            let v = map.next_value_seed(self)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_serde_json_parses() {
        for text in [
            r#"{"a":1,"b":[true,null,-2,3.5,"x"],"c":{"d":{}}}"#,
            "[]",
            "\"s\"",
            "18446744073709551615",
            r#"{"\u0061":1,"b":2}"#,
        ] {
            let ours = parse(text.as_bytes()).unwrap();
            let theirs: Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours, theirs, "{text}");
        }
    }

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        for (text, name) in [
            (r#"{"sub":"alice","sub":"admin"}"#, "sub"),
            (r#"{"a":{"x":1,"x":2}}"#, "x"),
            (r#"{"a":[{"k":1},{"k":1,"k":1}]}"#, "k"),
            // The same name, escaped differently, is the same name.
            (r#"{"sub":"a","s\u0075b":"b"}"#, "sub"),
        ] {
            assert_eq!(
                parse(text.as_bytes()),
                Err(StrictJsonError::DuplicateMember(name.into())),
                "{text}"
            );
        }
        // The same name in two different objects is fine.
        assert!(parse(br#"[{"k":1},{"k":2}]"#).is_ok());
        assert_eq!(
            StrictJsonError::DuplicateMember("sub".into()).to_string(),
            r#"member "sub" appears more than once"#
        );
        assert_eq!(StrictJsonError::Syntax.to_string(), "not valid JSON");
    }

    #[test]
    fn syntax_errors_and_trailing_bytes() {
        for text in ["", "{", r#"{"a":1}x"#, r#"{"a":1}{"#, "[1,]", "nul"] {
            assert_eq!(
                parse(text.as_bytes()),
                Err(StrictJsonError::Syntax),
                "{text}"
            );
        }
        assert_eq!(parse(b" {\"a\":1} \n").unwrap()["a"], 1);
        // Deep nesting stops at serde_json's recursion limit instead of the stack.
        let deep = "[".repeat(100_000);
        assert_eq!(parse(deep.as_bytes()), Err(StrictJsonError::Syntax));
    }
}
