//! `?dryRun=All`: a write that goes through every step but the last.
//!
//! `kubectl apply|create|delete --dry-run=server` asks the API server to
//! run a write as far as it can (decoding, admission, defaulting,
//! validation, the compare with what is stored) and to answer the object
//! it *would* have stored, without storing it. That makes it the one safe
//! way to ask "would this be accepted?": a client-side dry run knows none
//! of the server's defaults or rules. Kubernetes accepts one value, `All`
//! (every stage dry); any other is refused rather than ignored, because a
//! client that misspelt it would otherwise really write.

use serde_json::Value;

use super::ApiRequest;
use crate::status::{ApiError, FieldCause, Target};

/// Whether a write is stored or only rehearsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRun {
    /// The write happens.
    Off,
    /// Everything but the write happens (`dryRun=All`).
    All,
}

impl DryRun {
    /// The `dryRun` query parameter of a request whose options are
    /// `options` (`CreateOptions`, `UpdateOptions`, `PatchOptions`,
    /// `DeleteOptions`: the kind Kubernetes names in its 422).
    pub fn of(request: &ApiRequest, options: &str) -> Result<DryRun, ApiError> {
        DryRun::parse(request.query.get("dryRun").map(String::as_str), options)
    }

    /// A DELETE's: kubectl sends `dryRun` in the DeleteOptions body
    /// (`"dryRun": ["All"]`) rather than the query; either counts.
    pub fn of_delete(request: &ApiRequest, options: &Value) -> Result<DryRun, ApiError> {
        let query = DryRun::of(request, "DeleteOptions")?;
        let body = match options.get("dryRun") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(values)) => values.iter().map(|v| v.as_str()).collect(),
            Some(other) => vec![other.as_str()],
        };
        let mut dry = query;
        for value in body {
            let value = value.ok_or_else(|| {
                ApiError::BadRequest("DeleteOptions.dryRun: a list of strings is expected".into())
            })?;
            if DryRun::parse(Some(value), "DeleteOptions")?.is_dry() {
                dry = DryRun::All;
            }
        }
        Ok(dry)
    }

    // ANCHOR: parse
    /// The decision itself, pure: absent or empty is `Off`, `All` is
    /// `All`, anything else a 422 naming the value and the one supported.
    pub fn parse(value: Option<&str>, options: &str) -> Result<DryRun, ApiError> {
        match value {
            None | Some("") => Ok(DryRun::Off),
            Some("All") => Ok(DryRun::All),
            Some(other) => Err(ApiError::Invalid(
                Target {
                    group: "meta.k8s.io".into(),
                    kind: format!("{options}.meta.k8s.io"),
                    name: String::new(),
                },
                vec![FieldCause::not_supported("dryRun", other, &["All"])],
            )),
        }
    }
    // ANCHOR_END: parse

    /// Whether nothing may be written.
    pub fn is_dry(self) -> bool {
        self == DryRun::All
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_all_is_a_dry_run() {
        assert_eq!(DryRun::parse(None, "CreateOptions").unwrap(), DryRun::Off);
        assert_eq!(
            DryRun::parse(Some(""), "CreateOptions").unwrap(),
            DryRun::Off
        );
        assert_eq!(
            DryRun::parse(Some("All"), "CreateOptions").unwrap(),
            DryRun::All
        );
    }

    #[test]
    fn another_value_is_refused_not_ignored() {
        let error = DryRun::parse(Some("all"), "DeleteOptions").unwrap_err();
        assert_eq!(error.code(), 422);
        let message = error.to_string();
        assert!(message.contains("DeleteOptions.meta.k8s.io"), "{message}");
        assert!(
            message.contains(r#"dryRun: Unsupported value: "all": supported values: "All""#),
            "{message}"
        );
    }
}
