//! Object names and label text: what Kubernetes accepts, and the random
//! parts it makes up.
//!
//! The rules are the DNS-derived ones of Kubernetes'
//! `apimachinery/pkg/util/validation`: a Service's name becomes a DNS
//! label (`web.default.svc`), so names obey DNS. The API server refuses a
//! bad name with these messages; clients (the `orc` CLI, controllers making
//! names for their pods) use the same rules to make only good ones.

/// Is `s` a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤ 63 chars)?
/// Namespaces, services and container names must be, because they become
/// DNS names (`web.default.svc`).
pub fn check_dns1123_label(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or \
             '-', and must start and end with an alphanumeric character (e.g. 'my-name', or \
             '123-abc')"
                .into(),
        )
    }
}

/// Is `s` a DNS-1123 subdomain (labels joined by dots, ≤ 253 chars)? The
/// rule for most object names.
pub fn check_dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    let ok = !s.is_empty()
        && s.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \
             '-' or '.', and must start and end with an alphanumeric character (e.g. \
             'example.com')"
                .into(),
        )
    }
}

/// The "name" part of label keys and the whole of label values:
/// alphanumerics with `-`, `_`, `.` inside, ≤ 63 chars.
fn is_qualified_name_part(s: &str) -> bool {
    s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
}

// ANCHOR: label_key
/// Is `key` a valid label (or annotation) key: `[prefix/]name`, where the
/// optional prefix is a DNS subdomain (`app.kubernetes.io/name`)?
pub fn check_label_key(key: &str) -> Result<(), String> {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            check_dns1123_subdomain(prefix).map_err(|e| format!("prefix part {e}"))?;
            name
        }
        None => key,
    };
    if is_qualified_name_part(name) {
        Ok(())
    } else {
        Err(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must \
             start and end with an alphanumeric character, at most 63 characters"
                .into(),
        )
    }
}

/// Is `value` a valid label value: empty, or like a key's name part?
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_qualified_name_part(value) {
        Ok(())
    } else {
        Err(
            "a valid label must be an empty string or consist of alphanumeric characters, \
             '-', '_' or '.', and must start and end with an alphanumeric character, at most \
             63 characters"
                .into(),
        )
    }
}
// ANCHOR_END: label_key

/// The characters Kubernetes uses in generated names and hashes
/// (`SafeEncodeString`): no vowels, so no accidental words, and no 0, 1
/// or 3, which read like letters.
pub const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Five characters of [`NAME_ALPHABET`] for `generateName`: what the API
/// server appends to `web-7d4f8-` to name a ReplicaSet's pod.
pub fn random_suffix() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..5]
        .iter()
        .map(|b| NAME_ALPHABET[*b as usize % NAME_ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_dns1123_label("web-1").is_ok());
        assert!(check_dns1123_label("Web").is_err());
        assert!(check_dns1123_label("-a").is_err());
        assert!(check_dns1123_subdomain("a.b-c.d").is_ok());
        assert!(check_dns1123_subdomain("a..b").is_err());
    }

    #[test]
    fn label_keys_and_values() {
        assert!(check_label_key("app.kubernetes.io/name").is_ok());
        assert!(check_label_key("app").is_ok());
        assert!(check_label_key("Bad_Prefix/x").is_err());
        assert!(check_label_key("x/").is_err());
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("-x").is_err());
    }

    #[test]
    fn suffix_has_five_chars_of_the_alphabet() {
        let suffix = random_suffix();
        assert_eq!(suffix.len(), 5);
        assert!(suffix.bytes().all(|b| NAME_ALPHABET.contains(&b)));
    }
}
