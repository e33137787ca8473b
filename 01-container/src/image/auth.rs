//! Registry authentication: answering a `401` challenge.
//!
//! A registry says how to authenticate in the `WWW-Authenticate` header of
//! its `401 Unauthorized`:
//!
//! - `Basic realm="..."`: send `Authorization: Basic base64(user:password)`
//!   with every request (`docker-registry` with an htpasswd file);
//! - `Bearer realm="https://auth.example/token",service="reg",scope="repository:app:pull"`:
//!   ask the token server at `realm` for a token for that service and scope
//!   (anonymously, or with the user's password as Basic auth), then send
//!   `Authorization: Bearer <token>`. Docker Hub and most hosted registries
//!   work this way, even for anonymous pulls.

use super::ImageError;
use base64::Engine;
use std::collections::BTreeMap;

/// A user name and password (or access token) for a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    /// Parse `user:password`.
    pub fn parse(s: &str) -> Result<Credentials, ImageError> {
        let (username, password) = s.split_once(':').ok_or_else(|| {
            ImageError::Unsupported("credentials must look like `user:password`".into())
        })?;
        Ok(Credentials {
            username: username.into(),
            password: password.into(),
        })
    }

    /// The `Authorization` header value for Basic auth.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `basic` or `bearer`, lowercased.
    pub scheme: String,
    /// `realm`, `service`, `scope`, ... with quotes removed.
    pub params: BTreeMap<String, String>,
}

/// Parse `Scheme key="value",key=value`. Quoted values may hold commas
/// (`scope="repository:app:pull,push"`), so this is a small scanner and not a
/// `split(',')`.
// ANCHOR: challenge
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    Some(Challenge {
        scheme: scheme.to_ascii_lowercase(),
        params,
    })
}
// ANCHOR_END: challenge

/// The token server's URL: the realm, with `service` and `scope` as query
/// parameters (a scope holds `:` and `/`, percent-encoded here).
pub fn token_url(realm: &str, service: Option<&str>, scope: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(service) = service {
        query.append_pair("service", service);
    }
    query.append_pair("scope", scope);
    format!("{realm}?{}", query.finish())
}

/// Get a bearer token from the challenge's token server. `default_scope`
/// is used when the challenge names none.
// ANCHOR: fetch_token
pub fn fetch_token(
    agent: &ureq::Agent,
    challenge: &Challenge,
    default_scope: &str,
    credentials: Option<&Credentials>,
) -> Result<String, ImageError> {
    let realm = challenge
        .params
        .get("realm")
        .ok_or_else(|| ImageError::Registry {
            url: "(token challenge)".into(),
            problem: "Bearer challenge without a realm".into(),
        })?;
    let scope = challenge
        .params
        .get("scope")
        .map_or(default_scope, String::as_str);
    let service = challenge.params.get("service").map(String::as_str);
    let url = token_url(realm, service, scope);
    let mut request = agent.get(&url);
    if let Some(c) = credentials {
        request = request.header("Authorization", c.basic());
    }
    let failed = |problem: String| ImageError::Registry {
        url: url.clone(),
        problem,
    };
    let mut response = request.call().map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!(
            "token server answered {}; check the credentials",
            response.status()
        )));
    }
    let body = response
        .body_mut()
        .read_to_vec()
        .map_err(|e| failed(e.to_string()))?;
    token_of(realm, &url, &body)
}
// ANCHOR_END: fetch_token

/// The token in a token server's answer from `url`: `token`, or OAuth2's
/// `access_token` (Docker's servers send both, others one of them).
fn token_of(realm: &str, url: &str, body: &[u8]) -> Result<String, ImageError> {
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        token: Option<String>,
        access_token: Option<String>,
    }
    let parsed: TokenResponse = super::parse_json(&format!("token response from {realm}"), body)?;
    parsed
        .token
        .or(parsed.access_token)
        .ok_or_else(|| ImageError::Registry {
            url: url.to_string(),
            problem: "token response has neither `token` nor `access_token`".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_with_quoted_commas() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="reg.example",scope="repository:team/app:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "bearer");
        assert_eq!(c.params["realm"], "https://auth.example/token");
        assert_eq!(c.params["service"], "reg.example");
        assert_eq!(c.params["scope"], "repository:team/app:pull,push");
        let c = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(
            (c.scheme.as_str(), c.params["realm"].as_str()),
            ("basic", "Registry Realm")
        );
    }

    #[test]
    fn credentials_and_escaping() {
        let c = Credentials::parse("user:pa:ss").unwrap();
        assert_eq!(c.password, "pa:ss");
        assert_eq!(
            Credentials::parse("alice:secret").unwrap().basic(),
            "Basic YWxpY2U6c2VjcmV0"
        );
        assert_eq!(
            token_url("http://t/token", Some("reg"), "repository:a/b:pull"),
            "http://t/token?service=reg&scope=repository%3Aa%2Fb%3Apull"
        );
        assert_eq!(
            token_url("http://t/token", None, "x"),
            "http://t/token?scope=x"
        );
    }
}
