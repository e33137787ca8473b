//! Pulling images over the Registry HTTP API v2 (the OCI distribution spec).
//!
//! Two requests are all a pull needs:
//!
//! - `GET /v2/<name>/manifests/<tag or digest>`, with an `Accept` header
//!   listing the manifest formats we read. A multi-platform image answers
//!   with an index; we pick linux/amd64 and fetch that manifest by digest.
//! - `GET /v2/<name>/blobs/<digest>` for the config and every layer we do
//!   not have yet, streamed into the store and checked against the digest.
//!
//! Authentication happens on the first `401` ([`super::auth`]).
//!
//! **Plain HTTP** is used only for registries on loopback (`localhost`,
//! `127.0.0.0/8`, `[::1]`), where nothing can be intercepted, and for hosts
//! the caller lists as insecure. Everything else is HTTPS, verified.

use super::ImageError;
use super::auth::{Challenge, Credentials, fetch_token, parse_challenge};
use super::copy::{BlobSource, copy_image};
use super::digest::Digest;
use super::manifest::{DOCKER_MANIFEST, Descriptor, OCI_MANIFEST, is_index};
use super::reference::Reference;
use super::store::Store;
use std::io::{IsTerminal, Read, Write};

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Used for Basic auth, or to get a bearer token.
    pub credentials: Option<Credentials>,
    /// Hosts (`host:port`) allowed over plain HTTP besides loopback.
    pub insecure: Vec<String>,
}

/// The manifest formats we can read, in the `Accept` header: the media
/// types of [`super::manifest`] for OCI and Docker manifests and indexes.
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Is `host[:port]` on this machine?
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `http` or `https` for a registry, following the rule in the module doc.
// ANCHOR: scheme
pub fn scheme(registry: &str, insecure: &[String]) -> &'static str {
    if is_loopback(registry) || insecure.iter().any(|h| h == registry) {
        "http"
    } else {
        "https"
    }
}
// ANCHOR_END: scheme

/// A connection to one repository of one registry.
struct Client {
    agent: ureq::Agent,
    /// `http://127.0.0.1:5000/v2/team/app`
    base: String,
    repository: String,
    credentials: Option<Credentials>,
    /// The `Authorization` value that worked last, reused for every request.
    authorization: Option<String>,
    progress: bool,
}

impl Client {
    fn new(reference: &Reference, options: &PullOptions) -> Client {
        let host = reference.api_host();
        let mut config = ureq::Agent::config_builder()
            // We read 4xx bodies for their error messages.
            .http_status_as_error(false)
            .timeout_connect(Some(std::time::Duration::from_secs(15)));
        if is_loopback(host) {
            // A proxy from the environment must never see loopback traffic.
            config = config.proxy(None);
        }
        Client {
            agent: config.build().into(),
            base: format!(
                "{}://{host}/v2/{}",
                scheme(host, &options.insecure),
                reference.repository
            ),
            repository: reference.repository.clone(),
            credentials: options.credentials.clone(),
            authorization: None,
            progress: std::io::stderr().is_terminal(),
        }
    }

    /// GET `base + path`, authenticating once if challenged. Non-2xx
    /// answers become errors carrying the registry's own message.
    // ANCHOR: get
    fn get(
        &mut self,
        path: &str,
        accept: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, ImageError> {
        let url = format!("{}{path}", self.base);
        let failed = |problem: String| ImageError::Registry {
            url: url.clone(),
            problem,
        };
        for attempt in 0..2 {
            let mut request = self.agent.get(&url).header("Accept", accept);
            if let Some(a) = &self.authorization {
                request = request.header("Authorization", a);
            }
            let mut response = request.call().map_err(|e| failed(e.to_string()))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_challenge);
            if status == 401 && attempt == 0 {
                if let Some(challenge) = challenge {
                    self.authorization = Some(self.answer(&challenge, &url)?);
                    continue;
                }
            }
            let body = response.body_mut().read_to_string().unwrap_or_default();
            let hint = if status == 401 {
                "; give credentials (`--user USER:PASSWORD`)"
            } else {
                ""
            };
            return Err(failed(format!(
                "{status}: {}{hint}",
                registry_message(&body)
            )));
        }
        unreachable!("the second attempt returns")
    }
    // ANCHOR_END: get

    /// The `Authorization` value answering `challenge`.
    fn answer(&self, challenge: &Challenge, url: &str) -> Result<String, ImageError> {
        match challenge.scheme.as_str() {
            "basic" => self.credentials.as_ref().map(Credentials::basic).ok_or_else(|| ImageError::Registry {
                url: url.to_string(),
                problem: "the registry wants a user name and password; give them with `--user USER:PASSWORD`".into(),
            }),
            "bearer" => {
                let scope = format!("repository:{}:pull", self.repository);
                let token = fetch_token(&self.agent, challenge, &scope, self.credentials.as_ref())?;
                Ok(format!("Bearer {token}"))
            }
            other => Err(ImageError::Registry {
                url: url.to_string(),
                problem: format!("unsupported authentication scheme `{other}`"),
            }),
        }
    }

    /// A manifest or index by tag or digest: (bytes, digest of the bytes).
    fn manifest(&mut self, reference: &str) -> Result<(Vec<u8>, Digest), ImageError> {
        let response = self.get(&format!("/manifests/{reference}"), ACCEPT)?;
        let header_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Digest::parse(v).ok());
        let mut bytes = vec![];
        response
            .into_body()
            .into_reader()
            .take(4 << 20)
            .read_to_end(&mut bytes)
            .map_err(|e| ImageError::Registry {
                url: format!("{}/manifests/{reference}", self.base),
                problem: e.to_string(),
            })?;
        let got = Digest::of(&bytes);
        // Pulling by digest: the bytes must hash to it. By tag: they must
        // at least match what the registry claims.
        let expected = Digest::parse(reference).ok().or(header_digest);
        if let Some(expected) = expected {
            expected.verify(&got, &format!("manifest {reference}"))?;
        }
        Ok((bytes, got))
    }
}

/// The `message` of a registry's JSON error (`{"errors": [{"code", "message"}]}`),
/// or the raw body.
fn registry_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    match parsed.as_ref().and_then(|v| v["errors"][0].as_object()) {
        Some(e) => format!(
            "{} ({})",
            e.get("message").and_then(|m| m.as_str()).unwrap_or(""),
            e.get("code").and_then(|c| c.as_str()).unwrap_or("")
        ),
        None => body.trim().chars().take(200).collect(),
    }
}

impl BlobSource for Client {
    fn open(&mut self, desc: &Descriptor) -> Result<Box<dyn Read + '_>, ImageError> {
        let path = if is_index(&desc.media_type)
            || desc.media_type == OCI_MANIFEST
            || desc.media_type == DOCKER_MANIFEST
        {
            format!("/manifests/{}", desc.digest)
        } else {
            format!("/blobs/{}", desc.digest)
        };
        let accept = if path.starts_with("/blobs") {
            "*/*"
        } else {
            ACCEPT
        };
        let progress = self.progress;
        let body = self.get(&path, accept)?.into_body().into_reader();
        if progress {
            Ok(Box::new(Progress::new(body, desc)))
        } else {
            Ok(Box::new(body))
        }
    }
}

/// Pull `reference` into `store` and tag it. Returns the canonical reference
/// and the manifest digest.
// ANCHOR: pull
pub fn pull(
    store: &Store,
    reference: &str,
    options: &PullOptions,
) -> Result<(Reference, Digest), ImageError> {
    let reference = Reference::parse(reference)?;
    let mut client = Client::new(&reference, options);
    let (top, _) = client.manifest(&reference.manifest_reference())?;
    let digest = copy_image(store, &mut client, &top, &reference.to_string())?;
    store.tag(&reference, &digest)?;
    Ok((reference, digest))
}
// ANCHOR_END: pull

/// Draws `sha256:0123abcd4567  3.1/12.0 MB` on stderr while a blob downloads.
struct Progress<R> {
    inner: R,
    label: String,
    total: u64,
    done: u64,
}

impl<R> Progress<R> {
    fn new(inner: R, desc: &Descriptor) -> Self {
        Progress {
            inner,
            label: desc.digest.short().to_string(),
            total: desc.size,
            done: 0,
        }
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        let mb = |b: u64| b as f64 / 1e6;
        let end = if n == 0 { "\n" } else { "" };
        let _ = write!(
            std::io::stderr(),
            "\r{}  {:.1}/{:.1} MB{end}",
            self.label,
            mb(self.done),
            mb(self.total)
        );
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_listed_hosts() {
        assert_eq!(scheme("127.0.0.1:5000", &[]), "http");
        assert_eq!(scheme("localhost:5000", &[]), "http");
        assert_eq!(scheme("[::1]:5000", &[]), "http");
        assert_eq!(scheme("registry.example:5000", &[]), "https");
        assert_eq!(scheme("10.0.0.1:5000", &["10.0.0.1:5000".into()]), "http");
        assert_eq!(scheme("docker.io", &[]), "https");
    }

    #[test]
    fn registry_errors_are_unwrapped() {
        let body =
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(
            registry_message(body),
            "manifest unknown (MANIFEST_UNKNOWN)"
        );
    }
}
