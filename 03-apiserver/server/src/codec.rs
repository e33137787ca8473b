//! Request bodies: JSON, YAML or protobuf in, one JSON value out.
//!
//! Kubernetes accepts `application/json`, `application/yaml` and its
//! protobuf encoding (`application/vnd.kubernetes.protobuf`), which
//! kubectl's typed commands and client-go programs send. All three decode
//! to the same `serde_json::Value`, so everything after this module sees one
//! representation. A body that does not parse is a 400 whose message says
//! where (line and column, or byte offset and field path), because "invalid
//! body" alone sends the user hunting through a 200-line manifest.

use serde_json::Value;

use crate::status::ApiError;

/// The formats a body can arrive in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json` (and a request without a `Content-Type`).
    Json,
    /// `application/yaml`.
    Yaml,
    /// `application/vnd.kubernetes.protobuf`: decoded by [`crate::protobuf`].
    Protobuf,
}

/// The media types [`Format::of_body`] accepts, as a 415 lists them.
pub const ACCEPTED: &str =
    "application/json, application/yaml, application/vnd.kubernetes.protobuf";

impl Format {
    /// The format a `Content-Type` header names, by its media type
    /// (parameters such as `charset` aside); `None` for any other.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media.to_ascii_lowercase().as_str() {
            "" | "application/json" => Some(Format::Json),
            "application/yaml" => Some(Format::Yaml),
            "application/vnd.kubernetes.protobuf" => Some(Format::Protobuf),
            _ => None,
        }
    }

    /// The format of a request body, or 415 before any work is done: a
    /// body in another media type (`curl -d`'s form encoding, `text/plain`)
    /// used to be parsed as JSON whatever it said it was.
    pub fn of_body(content_type: &str) -> Result<Format, ApiError> {
        Format::from_content_type(content_type).ok_or(ApiError::UnsupportedMediaType(ACCEPTED))
    }
}

// ANCHOR: decode
/// Parses a body into a JSON object, or a 400 saying where it went wrong
/// (line and column, or byte offset and field path).
pub fn decode(body: &[u8], format: Format) -> Result<Value, ApiError> {
    let value: Value = match format {
        Format::Protobuf => crate::protobuf::decode(body).map_err(|e| {
            ApiError::BadRequest(format!("couldn't decode the protobuf request body: {e}"))
        })?,
        Format::Json => serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!(
                "couldn't parse the request body as JSON: {} at line {} column {}",
                strip_position(&e.to_string()),
                e.line(),
                e.column()
            ))
        })?,
        Format::Yaml => {
            let text = std::str::from_utf8(body)
                .map_err(|e| ApiError::BadRequest(format!("the YAML body is not UTF-8: {e}")))?;
            serde_yaml::from_str(text).map_err(|e| {
                let at = e
                    .location()
                    .map(|l| format!(" at line {} column {}", l.line(), l.column()))
                    .unwrap_or_default();
                ApiError::BadRequest(format!(
                    "couldn't parse the request body as YAML: {}{at}",
                    strip_position(&e.to_string())
                ))
            })?
        }
    };
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "the request body must be a JSON or YAML object".into(),
        ));
    }
    Ok(value)
}
// ANCHOR_END: decode

/// The fields a JSON body gives more than once, by path
/// (`spec.replicas`, `spec.containers[0].name`). A JSON parser keeps the
/// last and forgets the others, so without this a manifest with two
/// `replicas:` lines is stored with one of them and nobody is told;
/// Kubernetes warns (`fieldValidation=Warn`) or refuses (`Strict`). Other
/// formats have none: YAML bodies with a repeated key fail to parse, and
/// protobuf has no keys. A body that is not JSON at all has none either
/// ([`decode`] reports that).
pub fn duplicate_fields(body: &[u8], content_type: &str) -> Vec<String> {
    if Format::from_content_type(content_type) != Some(Format::Json) {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut parser = serde_json::Deserializer::from_slice(body);
    let walk = Walk {
        path: String::new(),
        found: &mut found,
    };
    if serde::de::DeserializeSeed::deserialize(walk, &mut parser).is_err() {
        return Vec::new();
    }
    found
}

/// One step of [`duplicate_fields`]' walk: the value at `path`.
struct Walk<'a> {
    path: String,
    found: &'a mut Vec<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    // ANCHOR: duplicates
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            if !seen.insert(key) {
                self.found.push(path.clone());
            }
            map.next_value_seed(Walk {
                path,
                found: &mut *self.found,
            })?;
        }
        Ok(())
    }
    // ANCHOR_END: duplicates

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while seq
            .next_element_seed(Walk {
                path: format!("{}[{index}]", self.path),
                found: &mut *self.found,
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// serde's messages end in " at line L column C"; orc says it once, itself.
fn strip_position(message: &str) -> &str {
    match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn repeated_keys_are_found_with_their_paths() {
        let body = br#"{"spec":{"replicas":1,"replicas":2,"containers":[{"name":"a","name":"b"}]},"kind":"X"}"#;
        assert_eq!(
            duplicate_fields(body, "application/json"),
            ["spec.replicas", "spec.containers[0].name"]
        );
        // The same key in two objects is no repeat.
        let body = br#"{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}"#;
        assert!(duplicate_fields(body, "application/json").is_empty());
        // Not JSON, or not a JSON body: nothing to report here.
        assert!(duplicate_fields(b"{\"a\":", "application/json").is_empty());
        assert!(duplicate_fields(b"a: 1\na: 2\n", "application/yaml").is_empty());
    }

    use super::*;

    #[test]
    fn json_errors_name_line_and_column() {
        let err = decode(b"{\n  \"a\": 1,\n  \"b\" 2\n}", Format::Json).unwrap_err();
        assert_eq!(
            err.to_string(),
            "couldn't parse the request body as JSON: expected `:` at line 3 column 7"
        );
    }

    #[test]
    fn yaml_errors_name_line_and_column() {
        let err = decode(b"a: 1\nb: [1, 2\n", Format::Yaml).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("at line"), "{message}");
        assert!(message.contains("column"), "{message}");
    }

    #[test]
    fn yaml_and_json_give_the_same_value() {
        let a = decode(b"kind: Pod\nmetadata:\n  name: x\n", Format::Yaml).unwrap();
        let b = decode(br#"{"kind":"Pod","metadata":{"name":"x"}}"#, Format::Json).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn non_objects_are_refused() {
        assert!(decode(b"[1]", Format::Json).is_err());
    }
}
