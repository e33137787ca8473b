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

/// serde's messages end in " at line L column C"; orc says it once, itself.
fn strip_position(message: &str) -> &str {
    match message.find(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

#[cfg(test)]
mod tests {
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
