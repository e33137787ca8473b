//! [`Client`]: the API's verbs over HTTP, with `Status` errors turned back
//! into a Rust error a caller can match on (`is_conflict()`,
//! `is_not_found()`).
//!
//! Objects are `serde_json::Value`s: the client works for every resource of
//! the table, and each component reads the fields it needs.
//!
//! Every request has a timeout ([`DEFAULT_TIMEOUT`], 30 s; configurable with
//! [`Client::with_timeout`], as client-go's `rest.Config.Timeout` and
//! kubectl's `--request-timeout`, or for every client a process makes with
//! [`set_process_timeout`]), so a server that accepts the connection
//! and never answers fails the call instead of hanging it. It bounds the
//! wait for the answer's headers and then each wait for more of its body:
//! a streamed LIST that keeps arriving is never cut however long it takes
//! (client-go's timeout bounds the whole request instead). A watch's or a
//! log stream's body has no timeout at all: it may rightly stay silent for
//! minutes. A watch ends on the server's `timeoutSeconds`, and if the
//! server forgets to end it, the client ends it one request timeout later.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
pub use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::resources::Resource;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a `Status` error.
    #[error("{reason} ({code}): {message}")]
    Api {
        /// HTTP code, e.g. 409.
        code: u16,
        /// `Status.reason`, e.g. `Conflict`.
        reason: String,
        /// `Status.message`.
        message: String,
    },
    /// The request did not complete (connection refused, ...).
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// The body was not the JSON expected.
    #[error("decoding the response: {0}")]
    Decode(String),
    /// The server did not answer within the client's request timeout.
    #[error(
        "{method} {url}: no answer from the API server within {after:?} (the client's request timeout; is the server overloaded or stuck?)"
    )]
    Timeout {
        method: Method,
        url: String,
        after: std::time::Duration,
    },
}

impl ClientError {
    /// The HTTP code of an API error.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// 409: retry with a fresh read.
    pub fn is_conflict(&self) -> bool {
        self.code() == Some(409)
    }

    /// 404.
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(404)
    }

    /// 410: re-list.
    pub fn is_gone(&self) -> bool {
        self.code() == Some(410)
    }

    /// The server did not answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Timeout { .. })
    }
}

/// How long a request waits for the server's answer, and then for each
/// further piece of its body, by default: 30 s. Kubernetes' controllers
/// bound their calls at about this (client-go's own default, like
/// kubectl's `--request-timeout=0`, is no timeout at all).
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The request timeout of every [`Client::new`] in this process, when
/// [`set_process_timeout`] chose one (else [`DEFAULT_TIMEOUT`]).
static PROCESS_TIMEOUT: std::sync::OnceLock<Option<std::time::Duration>> =
    std::sync::OnceLock::new();

/// Makes `timeout` the request timeout of every client this process
/// creates from now on (`None` or zero: no timeout, as kubectl's
/// `--request-timeout=0`). For a binary's `--client-request-timeout` flag:
/// a process such as `orc server` runs several components, each building
/// its clients from its own configuration, and the operator's choice (a
/// longer wait on a machine too slow for 30 s, such as a VM under software
/// emulation) must reach them all. Set once, before any client is made;
/// answers false, and changes nothing, if it was already set.
pub fn set_process_timeout(timeout: Option<std::time::Duration>) -> bool {
    PROCESS_TIMEOUT
        .set(timeout.filter(|t| !t.is_zero()))
        .is_ok()
}

/// How many times a request the server answered with "retry later" is
/// sent again (client-go's `maxRetries`).
pub const MAX_RETRIES: u32 = 10;

/// The longest wait a `Retry-After` is taken at: a server asking for an
/// hour is answered sooner, and with its error if it still refuses.
const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// The wait `response` asks for before the same request is sent again, if
/// it asks: a 429, or a 5xx with `Retry-After` (seconds, as the API server
/// writes it; a 429 without one waits a second).
fn retry_after(response: &reqwest::Response) -> Option<std::time::Duration> {
    let code = response.status().as_u16();
    let header = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(std::time::Duration::from_secs);
    let wait = match code {
        429 => header.unwrap_or(std::time::Duration::from_secs(1)),
        500..=599 => header?,
        _ => return None,
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The path of a collection or object of `resource`.
pub fn path(resource: &Resource, ns: Option<&str>, name: Option<&str>) -> String {
    let (group, version, plural) = (resource.group, resource.version, resource.plural);
    path_of(group, version, plural, resource.namespaced, ns, name)
}

/// The same for a resource known from discovery rather than from the
/// resource table (the `orc` CLI's, like kubectl's).
pub fn path_of(
    group: &str,
    version: &str,
    plural: &str,
    namespaced: bool,
    ns: Option<&str>,
    name: Option<&str>,
) -> String {
    let mut p = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    if let Some(ns) = ns.filter(|_| namespaced) {
        p.push_str(&format!("/namespaces/{ns}"));
    }
    p.push('/');
    p.push_str(plural);
    if let Some(name) = name {
        p.push('/');
        p.push_str(name);
    }
    p
}

/// `base` as a `Url` that [`Client::url`] can set paths and queries on:
/// only when it is a bare `scheme://host[:port]` already written as the
/// `Url` writes it (so `base + "/x"` parses to the same URL as setting
/// the path `/x` on it). Anything else (a path prefix, a trailing `/`, a
/// default port, upper case) is `None`, and requests parse their whole
/// URL string as they always did.
fn parsed_base(base: &str) -> Option<reqwest::Url> {
    let url = reqwest::Url::parse(base).ok()?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none();
    let same = url.as_str().strip_suffix('/') == Some(base);
    (bare && same && url.has_host()).then_some(url)
}

/// An API server connection. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    /// `base` parsed once, when every request's URL can be made from it
    /// by setting the path and the query (see [`Client::url`]): reqwest
    /// would otherwise parse the whole URL string again on every request.
    /// `None`: each request's URL is parsed from its string, as before.
    base_url: Option<reqwest::Url>,
    http: reqwest::Client,
    token: Option<String>,
    /// See [`DEFAULT_TIMEOUT`]; `None`: wait for ever.
    timeout: Option<std::time::Duration>,
}

impl Client {
    /// A client for the server at `base` (`http://127.0.0.1:6443`), with
    /// the process's request timeout ([`set_process_timeout`], else
    /// [`DEFAULT_TIMEOUT`]).
    pub fn new(base: impl Into<String>) -> Client {
        let base = base.into();
        Client {
            base_url: parsed_base(&base),
            base,
            http: crate::tls::http_client(),
            token: None,
            timeout: *PROCESS_TIMEOUT.get().unwrap_or(&Some(DEFAULT_TIMEOUT)),
        }
    }

    /// Waits at most `timeout` for each answer (and then for each piece of
    /// its body, but for watches and streams); `None` waits for ever, as
    /// kubectl's `--request-timeout=0`. See [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Option<std::time::Duration>) -> Client {
        self.timeout = timeout.filter(|t| !t.is_zero());
        self
    }

    /// The request timeout in force.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        self.timeout
    }

    /// Speaks TLS with `tls`: trusts its CA and presents its client
    /// certificate, if it has one (for an `https://` base).
    pub fn with_tls(mut self, tls: &crate::tls::ClientTls) -> Client {
        self.http = reqwest::Client::builder()
            .tls_backend_preconfigured((*tls.config()).clone())
            .build()
            // Only an unknown TLS backend type fails here, and this is
            // reqwest's own rustls ClientConfig.
            .expect("reqwest takes a rustls ClientConfig");
        self
    }

    /// Sends `token` as a bearer token with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Client {
        self.token = Some(token.into());
        self
    }

    fn request(&self, method: reqwest::Method, path_and_query: &str) -> Request {
        let url = format!("{}{path_and_query}", self.base);
        let r = match self.url(path_and_query) {
            Some(parsed) => self.http.request(method.clone(), parsed),
            None => self.http.request(method.clone(), &url),
        };
        let builder = match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        };
        Request {
            builder,
            method,
            url,
            timeout: self.timeout,
        }
    }

    // ANCHOR: url
    /// The URL of `path_and_query` on this server, made from the base
    /// parsed once: the path and the query set on a copy of it, which
    /// parses those two alone (about a third of what parsing the whole
    /// string costs, the scheme and the host being most of it; chapter 04,
    /// the callgrind section). The same `Url` as parsing `base` and
    /// `path_and_query` together would give: `None` (parse the string)
    /// for anything where the two could differ, that is any character
    /// but printable ASCII, and `#` and `\`, which a whole URL's parse
    /// reads as a fragment and a `/` and `set_path` would escape.
    fn url(&self, path_and_query: &str) -> Option<reqwest::Url> {
        let base = self.base_url.as_ref()?;
        let plain = |b: u8| b.is_ascii_graphic() && b != b'#' && b != b'\\';
        if !path_and_query.starts_with('/') || !path_and_query.bytes().all(plain) {
            return None;
        }
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path_and_query, None),
        };
        let mut url = base.clone();
        url.set_path(path);
        url.set_query(query);
        Some(url)
    }
    // ANCHOR_END: url

    async fn send(request: Request) -> Result<Value, ClientError> {
        Self::send_warned(request).await.map(|(body, _)| body)
    }

    /// [`Client::send`], and the text of each `Warning` header of the
    /// answer (RFC 7234's `299 - "text"`, unquoted).
    async fn send_warned(request: Request) -> Result<(Value, Vec<String>), ClientError> {
        let (bytes, warnings) = Self::receive(request).await?;
        Ok((decode(&bytes)?, warnings))
    }

    /// [`Client::send`] with the answer decoded into `T`: a caller that
    /// needs a few fields of the object the server echoes builds no
    /// `Value` of all of it (`serde::de::IgnoredAny` for none at all).
    async fn send_as<T: DeserializeOwned>(request: Request) -> Result<T, ClientError> {
        let (bytes, _) = Self::receive(request).await?;
        decode(&bytes)
    }

    /// Sends `request` and reads the whole answer: its body and its
    /// warnings, or the server's `Status` error.
    async fn receive(request: Request) -> Result<(Vec<u8>, Vec<String>), ClientError> {
        let (method, url, timeout) = (request.method.clone(), request.url.clone(), request.timeout);
        let mut response = Self::send_retrying(request).await?;
        let warnings = response
            .headers()
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(warning_text)
            .collect();
        let code = response.status().as_u16();
        // The body a piece at a time, each piece within the timeout: a
        // streamed LIST may take long, but never goes quiet for long.
        let mut bytes = Vec::new();
        loop {
            let piece =
                within(timeout, response.chunk())
                    .await
                    .ok_or_else(|| ClientError::Timeout {
                        method: method.clone(),
                        url: url.clone(),
                        after: timeout.unwrap_or_default(),
                    })??;
            match piece {
                Some(piece) => bytes.extend_from_slice(&piece),
                None => break,
            }
        }
        if code >= 400 {
            let body: Value = decode(&bytes)?;
            let text = |k: &str| {
                body.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            return Err(ClientError::Api {
                code,
                reason: text("reason"),
                message: text("message"),
            });
        }
        Ok((bytes, warnings))
    }

    /// Sends `request`, again after the wait the server asks for when it
    /// answers "not now": 429 (too many requests in flight), or a 5xx
    /// carrying `Retry-After` (a server shutting down, etcd restarting).
    /// The server refused such a request before acting on it, so even a
    /// create is safe to repeat. At most [`MAX_RETRIES`] times, as
    /// client-go; then the last answer is the caller's.
    // ANCHOR: retry
    async fn send_retrying(request: Request) -> Result<reqwest::Response, ClientError> {
        let Request {
            builder: mut request,
            method,
            url,
            timeout,
        } = request;
        let mut retries = 0;
        loop {
            // A body that cannot be cloned (a stream) is sent once.
            let again = request.try_clone();
            let response =
                within(timeout, request.send())
                    .await
                    .ok_or_else(|| ClientError::Timeout {
                        method: method.clone(),
                        url: url.clone(),
                        after: timeout.unwrap_or_default(),
                    })??;
            let wait = retry_after(&response);
            match (wait, again) {
                (Some(wait), Some(next)) if retries < MAX_RETRIES => {
                    retries += 1;
                    tracing::debug!(
                        status = response.status().as_u16(),
                        ?wait,
                        retries,
                        "the API server asked to retry"
                    );
                    tokio::time::sleep(wait).await;
                    request = next;
                }
                _ => return Ok(response),
            }
        }
    }
    // ANCHOR_END: retry

    /// GET one object.
    pub async fn get(
        &self,
        resource: &Resource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Value, ClientError> {
        Self::send(self.request(reqwest::Method::GET, &path(resource, ns, Some(name)))).await
    }

    /// LIST, with an optional label selector.
    pub async fn list(
        &self,
        resource: &Resource,
        ns: Option<&str>,
        labels: &str,
    ) -> Result<Value, ClientError> {
        self.list_selected(resource, ns, labels, "").await
    }

    /// LIST with a label and a field selector (either may be empty): a
    /// node agent asks for `spec.nodeName=<node>`.
    pub async fn list_selected(
        &self,
        resource: &Resource,
        ns: Option<&str>,
        labels: &str,
        fields: &str,
    ) -> Result<Value, ClientError> {
        let query = selector_query(labels, fields);
        Self::send(self.request(
            reqwest::Method::GET,
            &format!("{}{query}", path(resource, ns, None)),
        ))
        .await
    }

    /// DELETE on a collection (`deletecollection`): every object a LIST
    /// with these selectors (either may be empty) returns is deleted as a
    /// DELETE of it with `options` (DeleteOptions: `propagationPolicy`,
    /// `gracePeriodSeconds`, `dryRun`) would delete it. Answers the list
    /// of what was deleted, as it was before the deletes.
    pub async fn delete_collection(
        &self,
        resource: &Resource,
        ns: Option<&str>,
        labels: &str,
        fields: &str,
        options: &Value,
    ) -> Result<Value, ClientError> {
        let query = selector_query(labels, fields);
        Self::send(
            self.request(
                reqwest::Method::DELETE,
                &format!("{}{query}", path(resource, ns, None)),
            )
            .json(options),
        )
        .await
    }

    /// POST a new object; the server's answer, the object as stored.
    pub async fn create(
        &self,
        resource: &Resource,
        ns: Option<&str>,
        obj: &Value,
    ) -> Result<Value, ClientError> {
        self.create_as(resource, ns, obj).await
    }

    /// [`Client::create`], the object the server answers decoded into
    /// `T`: the fields the caller reads, not a `Value` of all of it.
    pub async fn create_as<T: DeserializeOwned>(
        &self,
        resource: &Resource,
        ns: Option<&str>,
        obj: &Value,
    ) -> Result<T, ClientError> {
        Self::send_as(
            self.request(reqwest::Method::POST, &path(resource, ns, None))
                .json(obj),
        )
        .await
    }

    /// PUT an object (compare-and-swap on its resourceVersion).
    pub async fn update(
        &self,
        resource: &Resource,
        ns: Option<&str>,
        obj: &Value,
    ) -> Result<Value, ClientError> {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        Self::send(
            self.request(reqwest::Method::PUT, &path(resource, ns, Some(name)))
                .json(obj),
        )
        .await
    }

    /// PATCH with a JSON merge patch; `subresource` is e.g. `"status"`.
    pub async fn merge_patch(
        &self,
        resource: &Resource,
        ns: Option<&str>,
        name: &str,
        subresource: Option<&str>,
        patch: &Value,
    ) -> Result<Value, ClientError> {
        let mut p = path(resource, ns, Some(name));
        if let Some(sub) = subresource {
            p = format!("{p}/{sub}");
        }
        let request = self
            .request(reqwest::Method::PATCH, &p)
            .header("content-type", "application/merge-patch+json")
            .body(patch.to_string());
        Self::send(request).await
    }

    /// DELETE an object.
    pub async fn delete(
        &self,
        resource: &Resource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Value, ClientError> {
        Self::send(self.request(reqwest::Method::DELETE, &path(resource, ns, Some(name)))).await
    }

    /// DELETE an object with DeleteOptions (`propagationPolicy`,
    /// `preconditions`, `gracePeriodSeconds`) in the body.
    pub async fn delete_with(
        &self,
        resource: &Resource,
        ns: Option<&str>,
        name: &str,
        options: &Value,
    ) -> Result<Value, ClientError> {
        Self::send(
            self.request(reqwest::Method::DELETE, &path(resource, ns, Some(name)))
                .json(options),
        )
        .await
    }

    /// Opens a watch from `resource_version`, ending after `timeout_secs`.
    pub async fn watch(
        &self,
        resource: &Resource,
        ns: Option<&str>,
        labels: &str,
        resource_version: &str,
        timeout_secs: u64,
    ) -> Result<WatchStream, ClientError> {
        self.watch_selected(resource, ns, labels, "", resource_version, timeout_secs)
            .await
    }

    /// A watch with a label and a field selector (either may be empty).
    pub async fn watch_selected(
        &self,
        resource: &Resource,
        ns: Option<&str>,
        labels: &str,
        fields: &str,
        resource_version: &str,
        timeout_secs: u64,
    ) -> Result<WatchStream, ClientError> {
        let query = format!(
            "?watch=true&allowWatchBookmarks=true&resourceVersion={}&timeoutSeconds={timeout_secs}&labelSelector={}&fieldSelector={}",
            encode(resource_version),
            encode(labels),
            encode(fields)
        );
        Self::open_watch(
            self.request(
                reqwest::Method::GET,
                &format!("{}{query}", path(resource, ns, None)),
            ),
            Some(std::time::Duration::from_secs(timeout_secs)),
        )
        .await
    }

    /// Sends a watch request; the stream of its events, or the error. A
    /// watch asked to end after `ends_after` is ended by the client one
    /// request timeout later if the server has not ended it.
    async fn open_watch(
        request: Request,
        ends_after: Option<std::time::Duration>,
    ) -> Result<WatchStream, ClientError> {
        let grace = request.timeout;
        let response = Self::send_retrying(request).await?;
        if !response.status().is_success() {
            return Err(Self::send_error(response).await);
        }
        let deadline = ends_after
            .zip(grace)
            .map(|(ends, grace)| tokio::time::Instant::now() + ends + grace);
        Ok(WatchStream {
            response,
            lines: Lines::default(),
            deadline,
        })
    }

    /// Any verb on any path, for clients that find URLs through discovery
    /// rather than the resource table (the `orc` CLI, like kubectl). `accept`
    /// selects a representation, e.g. a server-side Table; `body` is
    /// `(content-type, text)`.
    pub async fn send_path(
        &self,
        method: Method,
        path_and_query: &str,
        accept: Option<&str>,
        body: Option<(&str, String)>,
    ) -> Result<Value, ClientError> {
        let mut request = self.request(method, path_and_query);
        if let Some(accept) = accept {
            request.builder = request.builder.header("accept", accept);
        }
        if let Some((content_type, text)) = body {
            request.builder = request
                .builder
                .header("content-type", content_type)
                .body(text);
        }
        Self::send(request).await
    }

    /// A GET on any path, with the answer's warnings (a LIST names the
    /// objects it could not read in them, for example).
    pub async fn get_path_warned(
        &self,
        path_and_query: &str,
    ) -> Result<(Value, Vec<String>), ClientError> {
        Self::send_warned(self.request(reqwest::Method::GET, path_and_query)).await
    }

    /// A watch on any path and query (`?watch=true&...` included by the
    /// caller), with an `Accept` header: `kubectl get -w` watches Tables.
    pub async fn watch_path(
        &self,
        path_and_query: &str,
        accept: &str,
    ) -> Result<WatchStream, ClientError> {
        let mut request = self.request(reqwest::Method::GET, path_and_query);
        request.builder = request.builder.header("accept", accept);
        Self::open_watch(request, None).await
    }

    /// A GET whose answer is not JSON but a byte stream (`pods/NAME/log`):
    /// the response, to read with `chunk()`, or the server's `Status` error.
    pub async fn stream_path(
        &self,
        path_and_query: &str,
    ) -> Result<reqwest::Response, ClientError> {
        let response =
            Self::send_retrying(self.request(reqwest::Method::GET, path_and_query)).await?;
        if response.status().as_u16() >= 400 {
            return Err(Self::send_error(response).await);
        }
        Ok(response)
    }

    async fn send_error(response: reqwest::Response) -> ClientError {
        let code = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or_default();
        let text = |k: &str| {
            body.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        ClientError::Api {
            code,
            reason: text("reason"),
            message: text("message"),
        }
    }
}

/// What [`encode`] escapes: everything but RFC 3986's unreserved
/// characters (letters, digits, `-`, `_`, `.`, `~`), so a selector such as
/// `app in (a,b)` or `spec.nodeName=node-1` survives as one query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `?labelSelector=...&fieldSelector=...`, or `""` without selectors.
/// An answer's body as JSON, into `T`.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|e| ClientError::Decode(e.to_string()))
}

fn selector_query(labels: &str, fields: &str) -> String {
    let mut terms = vec![];
    if !labels.is_empty() {
        terms.push(format!("labelSelector={}", encode(labels)));
    }
    if !fields.is_empty() {
        terms.push(format!("fieldSelector={}", encode(fields)));
    }
    if terms.is_empty() {
        String::new()
    } else {
        format!("?{}", terms.join("&"))
    }
}

/// The text of a `Warning` header value, `299 - "text"` with `\"` and
/// `\\` escapes, as kubectl prints it; a value of another shape as it is.
pub fn warning_text(header: &str) -> String {
    let Some(quoted) = header
        .strip_prefix("299 - \"")
        .and_then(|rest| rest.rfind('"').map(|end| &rest[..end]))
    else {
        return header.to_string();
    };
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// A request being built, with what its timeout error names.
struct Request {
    builder: reqwest::RequestBuilder,
    method: Method,
    url: String,
    timeout: Option<std::time::Duration>,
}

impl Request {
    fn header(mut self, name: &str, value: &str) -> Request {
        self.builder = self.builder.header(name, value);
        self
    }

    fn json(mut self, body: &Value) -> Request {
        self.builder = self.builder.json(body);
        self
    }

    fn body(mut self, body: String) -> Request {
        self.builder = self.builder.body(body);
        self
    }
}

/// `future`'s output, or `None` if `timeout` passed first (never, for no
/// timeout).
async fn within<T>(
    timeout: Option<std::time::Duration>,
    future: impl std::future::Future<Output = T>,
) -> Option<T> {
    match timeout {
        Some(timeout) => tokio::time::timeout(timeout, future).await.ok(),
        None => Some(future.await),
    }
}

/// The lines of a watch response, one event at a time.
pub struct WatchStream {
    response: reqwest::Response,
    lines: Lines,
    /// When the client ends the watch if the server has not (its
    /// `timeoutSeconds` plus a request timeout); `None`: never.
    deadline: Option<tokio::time::Instant>,
}

/// A body's bytes as they come, cut into lines.
#[derive(Default)]
struct Lines {
    buffer: Vec<u8>,
    /// How much of `buffer` was handed out already.
    read: usize,
}

impl Lines {
    /// The next whole line, its newline included; `None` until one is in.
    fn next(&mut self) -> Option<&[u8]> {
        let unread = &self.buffer[self.read..];
        let end = unread.iter().position(|b| *b == b'\n')? + 1;
        self.read += end;
        Some(&unread[..end])
    }

    /// Appends `chunk`. The lines handed out are dropped here, once per
    /// chunk rather than once per line.
    fn push(&mut self, chunk: &[u8]) {
        self.buffer.drain(..self.read);
        self.read = 0;
        self.buffer.extend_from_slice(chunk);
    }
}

/// One line of a watch: `{"type": "ADDED", "object": {...}}`.
#[derive(serde::Deserialize)]
struct WatchEvent {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    object: Value,
}

impl WatchStream {
    /// The next `(type, object)`; `None` when the watch ended (the server
    /// ended it, or it outlived its `timeoutSeconds` by a request timeout).
    pub async fn next(&mut self) -> Option<Result<(String, Value), ClientError>> {
        loop {
            if let Some(line) = self.lines.next() {
                // Decoded straight into its two fields: the object is
                // moved out, never copied.
                return Some(
                    serde_json::from_slice::<WatchEvent>(line)
                        .map(|e| (e.kind, e.object))
                        .map_err(|e| ClientError::Decode(e.to_string())),
                );
            }
            let chunk = match self.deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, self.response.chunk())
                    .await
                    .ok()?,
                None => self.response.chunk().await,
            };
            match chunk {
                Ok(Some(chunk)) => self.lines.push(&chunk),
                Ok(None) => return None,
                Err(e) => return Some(Err(e.into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::lookup;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn warning_headers_are_unquoted() {
        assert_eq!(
            warning_text(r#"299 - "secrets \"lost\" could not be read""#),
            r#"secrets "lost" could not be read"#
        );
        assert_eq!(warning_text("something else"), "something else");
    }

    /// A server on loopback that answers its `n`th request (from 0) with
    /// `answer(n)`: a status line and headers, then `{}`. Returns its
    /// address and the count of requests it has read.
    async fn scripted(answer: fn(usize) -> &'static str) -> (String, Arc<AtomicUsize>) {
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        let base = serving(move |mut stream| {
            let n = count.fetch_add(1, Ordering::SeqCst);
            async move {
                let reply = format!(
                    "{}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}",
                    answer(n)
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        })
        .await;
        (base, seen)
    }

    async fn get_pod(base: &str) -> Result<Value, ClientError> {
        let pods = lookup("", "v1", "pods").unwrap();
        Client::new(base).get(pods, Some("default"), "web").await
    }

    #[tokio::test]
    async fn too_many_requests_is_retried_after_the_wait_the_server_asks() {
        let (base, seen) = scripted(|n| match n {
            0 | 1 => "HTTP/1.1 429 Too Many Requests\r\nretry-after: 0",
            _ => "HTTP/1.1 200 OK",
        })
        .await;
        get_pod(&base).await.expect("the third answer is a 200");
        assert_eq!(seen.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retries_stop_after_ten_and_the_error_is_the_callers() {
        let (base, seen) = scripted(|_| "HTTP/1.1 429 Too Many Requests\r\nretry-after: 0").await;
        let error = get_pod(&base).await.unwrap_err();
        assert_eq!(error.code(), Some(429));
        assert_eq!(seen.load(Ordering::SeqCst), 1 + MAX_RETRIES as usize);
    }

    #[tokio::test]
    async fn a_server_error_is_retried_only_when_it_says_when() {
        let (base, seen) = scripted(|n| match n {
            0 => "HTTP/1.1 503 Service Unavailable\r\nretry-after: 0",
            _ => "HTTP/1.1 500 Internal Server Error",
        })
        .await;
        let error = get_pod(&base).await.unwrap_err();
        assert_eq!(error.code(), Some(500));
        assert_eq!(
            seen.load(Ordering::SeqCst),
            2,
            "503+Retry-After retried, 500 not"
        );
    }

    /// A server on loopback that reads each request's head, then hands the
    /// connection to `reply`. Returns its address.
    async fn serving<F, Fut>(reply: F) -> String
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                read_head(&mut stream).await;
                tokio::spawn(reply(stream));
            }
        });
        base
    }

    /// The head of the request on `stream` (up to its blank line).
    async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                break;
            }
            head.push(byte[0]);
        }
        String::from_utf8_lossy(&head).into_owned()
    }

    /// Holds the connection open, saying nothing, until the test ends.
    async fn silent(stream: tokio::net::TcpStream) {
        std::future::pending::<()>().await;
        drop(stream);
    }

    const SHORT: std::time::Duration = std::time::Duration::from_millis(300);

    #[tokio::test]
    async fn a_server_that_accepts_and_never_answers_is_a_timeout_error() {
        let base = serving(silent).await;
        let pods = lookup("", "v1", "pods").unwrap();
        let client = Client::new(&base).with_timeout(Some(SHORT));
        let error = client
            .get(pods, Some("default"), "web")
            .await
            .expect_err("no answer is an error, not a hang");
        assert!(error.is_timeout(), "{error}");
        assert_eq!(
            error.to_string(),
            format!(
                "GET {base}/api/v1/namespaces/default/pods/web: no answer from the API server within 300ms (the client's request timeout; is the server overloaded or stuck?)"
            )
        );
        // Every verb, and the watch's opening, are bounded alike.
        let error = client
            .create(pods, Some("default"), &serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error}");
        let error = client
            .watch(pods, Some("default"), "", "1", 60)
            .await
            .err()
            .unwrap();
        assert!(error.is_timeout(), "{error}");
        // The default is 30 s, and none means none.
        assert_eq!(Client::new(&base).timeout(), Some(DEFAULT_TIMEOUT));
        assert_eq!(DEFAULT_TIMEOUT, std::time::Duration::from_secs(30));
        assert_eq!(client.clone().with_timeout(None).timeout(), None);
        assert_eq!(
            client
                .with_timeout(Some(std::time::Duration::ZERO))
                .timeout(),
            None
        );
    }

    #[tokio::test]
    async fn a_body_that_stops_halfway_times_out_and_one_that_keeps_coming_does_not() {
        // Headers and half an object, then nothing.
        let base = serving(|mut stream| async move {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(b"5\r\n{\"a\":\r\n").await;
            silent(stream).await;
        })
        .await;
        let client = Client::new(&base).with_timeout(Some(SHORT));
        let error = client
            .send_path(Method::GET, "/api/v1/pods", None, None)
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error}");

        // A streamed LIST: a piece every tenth of the timeout, for three
        // timeouts in all. Slow, but never silent for long: it arrives.
        let base = serving(|mut stream| async move {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
            let _ = stream.write_all(head.as_bytes()).await;
            let mut pieces = vec!["{\"items\":[".to_string()];
            pieces.extend((0..29).map(|i| format!("{i},")));
            pieces.push("29]}".to_string());
            for piece in pieces {
                let chunk = format!("{:x}\r\n{piece}\r\n", piece.len());
                if stream.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
                tokio::time::sleep(SHORT / 10).await;
            }
            let _ = stream.write_all(b"0\r\n\r\n").await;
        })
        .await;
        let client = Client::new(&base).with_timeout(Some(SHORT));
        let list = client
            .send_path(Method::GET, "/api/v1/pods", None, None)
            .await
            .expect("a slow, steady body is not cut");
        assert_eq!(list["items"].as_array().unwrap().len(), 30);
    }

    #[tokio::test]
    async fn a_quiet_watch_is_not_cut_but_one_the_server_forgets_to_end_is() {
        // The server opens the watch and never sends an event, nor ends it.
        let base = serving(|mut stream| async move {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            let _ = stream.write_all(head.as_bytes()).await;
            silent(stream).await;
        })
        .await;
        let pods = lookup("", "v1", "pods").unwrap();
        let client = Client::new(&base).with_timeout(Some(SHORT));
        // Asked to last a minute: three request timeouts of silence are
        // just a quiet watch.
        let mut watch = client
            .watch(pods, Some("default"), "", "1", 60)
            .await
            .unwrap();
        let quiet = tokio::time::timeout(SHORT * 3, watch.next()).await;
        assert!(quiet.is_err(), "the quiet watch ended: {:?}", quiet.ok());
        // Asked to last a second: the client ends it a request timeout
        // after that, as if the server had.
        let mut watch = client
            .watch(pods, Some("default"), "", "1", 1)
            .await
            .unwrap();
        assert!(watch.next().await.is_none());
    }

    #[test]
    fn watch_lines_are_cut_at_newlines_across_chunks() {
        let mut lines = Lines::default();
        assert_eq!(lines.next(), None);
        lines.push(b"{\"a\":1}\n{\"b\":");
        assert_eq!(lines.next(), Some(&b"{\"a\":1}\n"[..]));
        assert_eq!(lines.next(), None, "half a line is not a line");
        lines.push(b"2}\n{\"c\":3}\n{");
        assert_eq!(lines.next(), Some(&b"{\"b\":2}\n"[..]));
        assert_eq!(lines.next(), Some(&b"{\"c\":3}\n"[..]));
        assert_eq!(lines.next(), None);
        lines.push(b"}\n");
        assert_eq!(lines.next(), Some(&b"{}\n"[..]));
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn a_watch_line_is_decoded_into_its_type_and_object() {
        let line = br#"{"type":"MODIFIED","object":{"metadata":{"name":"web"}}}"#;
        let event: WatchEvent = serde_json::from_slice(line).unwrap();
        assert_eq!(event.kind, "MODIFIED");
        assert_eq!(
            event.object,
            serde_json::json!({"metadata": {"name": "web"}})
        );
    }

    #[test]
    fn a_url_made_from_the_parsed_base_is_the_url_parsed_whole() {
        let base = "http://127.0.0.1:6443";
        let client = Client::new(base);
        for path_and_query in [
            "/api/v1/namespaces/default/pods/web/binding",
            "/apis/apps/v1/deployments?labelSelector=app%20in%20%28a%2Cb%29",
            "/api/v1/pods?watch=true&fieldSelector=spec.nodeName%3Dn1&x=?y",
            "/api/v1/namespaces/d/pods/a/../b/./c",
            "/api/v1/pods/%zz/<q>/\"{`}|^?q=\"'<>",
            "/api/v1/pods?",
            "//api/v1/pods",
        ] {
            let made = client
                .url(path_and_query)
                .expect("a plain path is made, not parsed");
            let whole = reqwest::Url::parse(&format!("{base}{path_and_query}")).unwrap();
            assert_eq!(made, whole, "{path_and_query}");
            assert_eq!(made.as_str(), whole.as_str(), "{path_and_query}");
        }
        // What a whole parse reads otherwise is left to it.
        for path_and_query in ["/a#b", "/a\\b", "/a b", "/a\tb", "/é", "api/v1", ""] {
            assert_eq!(client.url(path_and_query), None, "{path_and_query:?}");
        }
        // So is any base but a bare one written as `Url` writes it.
        for other in [
            "http://127.0.0.1:6443/",
            "http://127.0.0.1:6443/prefix",
            "http://127.0.0.1:80",
            "HTTP://127.0.0.1:6443",
            "not a url",
        ] {
            assert_eq!(Client::new(other).url("/api/v1/pods"), None, "{other}");
        }
        assert!(
            Client::new("https://api.example:6443")
                .url("/api")
                .is_some()
        );
    }

    #[tokio::test]
    async fn requests_reach_the_path_and_query_asked_for() {
        // The request line the server reads, for a name and selectors
        // that need escaping: the same with the parsed base as without.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let head = read_head(&mut stream).await;
                let _ = tx.send(head.lines().next().unwrap_or("").to_string());
                let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
                let _ = stream.write_all(reply.as_bytes()).await;
            }
        });
        let pods = lookup("", "v1", "pods").unwrap();
        // A base the client parses once, and one it does not (a trailing
        // `/`, kept as the old string concatenation keeps it).
        for (base, prefix) in [(base.clone(), ""), (format!("{base}/"), "/")] {
            let client = Client::new(&base);
            client
                .list_selected(pods, Some("d"), "app in (a,b)", "spec.nodeName=n1")
                .await
                .unwrap();
            assert_eq!(
                rx.recv().await.unwrap(),
                format!(
                    "GET {prefix}/api/v1/namespaces/d/pods?labelSelector=app%20in%20%28a%2Cb%29&fieldSelector=spec.nodeName%3Dn1 HTTP/1.1"
                )
            );
            client.get(pods, Some("d"), "a b").await.unwrap();
            assert_eq!(
                rx.recv().await.unwrap(),
                format!("GET {prefix}/api/v1/namespaces/d/pods/a%20b HTTP/1.1")
            );
            client.get(pods, Some("d"), "a\"<b>").await.unwrap();
            assert_eq!(
                rx.recv().await.unwrap(),
                format!("GET {prefix}/api/v1/namespaces/d/pods/a%22%3Cb%3E HTTP/1.1")
            );
        }
    }

    #[test]
    fn paths() {
        let pods = lookup("", "v1", "pods").unwrap();
        assert_eq!(
            path(pods, Some("d"), Some("w")),
            "/api/v1/namespaces/d/pods/w"
        );
        let nodes = lookup("", "v1", "nodes").unwrap();
        assert_eq!(path(nodes, Some("ignored"), None), "/api/v1/nodes");
        let deploys = lookup("apps", "v1", "deployments").unwrap();
        assert_eq!(path(deploys, None, None), "/apis/apps/v1/deployments");
        assert_eq!(encode("app in (a,b)"), "app%20in%20%28a%2Cb%29");
    }
}
