//! What a proxied answer says about where things are, rewritten to go
//! through the proxy again: a redirect's `Location` and the links of an
//! HTML page. Pure functions of the answer and the request; `mod.rs`
//! decides when to call them.
//!
//! An app behind `pods/web/proxy/` believes it is served at `/`. Its page
//! links `/static/app.css`; its `/dir` redirects to `/dir/`. A browser
//! that reached the page through `kubectl proxy` at
//! `http://127.0.0.1:8001/api/v1/namespaces/default/pods/web/proxy/`
//! would follow both to `http://127.0.0.1:8001/static/app.css`: the API
//! server's own root, not the app. So, as kube-apiserver's proxy transport
//! does (apimachinery's `util/proxy`), a URL that means "this app" is given
//! the proxy's path in front:
//!
//! ```text
//! /static/app.css                     → /api/v1/namespaces/default/pods/web/proxy/static/app.css
//! http://10.244.1.7:8080/login        → /api/v1/namespaces/default/pods/web/proxy/login
//! http://127.0.0.1:8001/x (the Host)  → http://127.0.0.1:8001/api/v1/namespaces/default/pods/web/proxy/x
//! app.css, ../up, ?page=2, #top       → left: they resolve under the proxy path already
//! https://example.com/, mailto:a@b    → left: not this app
//! ```
//!
//! "This app" is a path-absolute URL (`/x`), or an absolute one whose host
//! and port are the target's address or the `Host` the client asked the
//! API server for. A path that already starts with the proxy's path is
//! left, so a page rewritten once is not rewritten again.
//!
//! HTML is read by a streaming HTML rewriter (the `lol_html` crate): only
//! the attributes of [`LINK_ATTRIBUTES`] change, every other byte of the
//! page goes out as it came. URLs in scripts and style sheets are not
//! rewritten (Kubernetes leaves them too): a single-page app that builds
//! its URLs in JavaScript needs to be told its base path.

use std::borrow::Cow;
use std::io::Read;
use std::net::SocketAddr;

use lol_html::html_content::Element;
use lol_html::{AsciiCompatibleEncoding, HandlerResult, HtmlRewriter, Settings, element};
use url::{Host, Position, Url};

// ANCHOR: link_attributes
/// The attributes that hold a URL, by element: Kubernetes' list (its
/// `atomsToAttrs`, from the HTML 4 and HTML 5 attribute indexes).
pub const LINK_ATTRIBUTES: [(&str, &[&str]); 25] = [
    ("a", &["href"]),
    ("applet", &["codebase"]),
    ("area", &["href"]),
    ("audio", &["src"]),
    ("base", &["href"]),
    ("blockquote", &["cite"]),
    ("body", &["background"]),
    ("button", &["formaction"]),
    ("command", &["icon"]),
    ("del", &["cite"]),
    ("embed", &["src"]),
    ("form", &["action"]),
    ("frame", &["longdesc", "src"]),
    ("head", &["profile"]),
    ("html", &["manifest"]),
    ("iframe", &["longdesc", "src"]),
    ("img", &["longdesc", "src", "usemap"]),
    ("input", &["src", "usemap", "formaction"]),
    ("ins", &["cite"]),
    ("link", &["href"]),
    ("object", &["classid", "codebase", "data", "usemap"]),
    ("q", &["cite"]),
    ("script", &["src"]),
    ("source", &["src"]),
    ("video", &["poster", "src"]),
];
// ANCHOR_END: link_attributes

/// The most bytes of an HTML page rewritten, as received and once decoded
/// (a small gzip body can decode to gigabytes). A bigger page is passed on
/// untouched, its links not rewritten, and the API server logs a warning:
/// the rewrite needs the whole page in memory (kube-apiserver's has no
/// bound), and 4 MiB is far above what a web UI's HTML weighs.
pub const LIMIT: usize = 4 << 20;

// ANCHOR: links
/// Where a proxied app is, for rewriting the URLs it answers with.
#[derive(Debug, Clone, Copy)]
pub struct Links<'a> {
    /// The proxy's path, the request path without the part passed on:
    /// `/api/v1/namespaces/default/services/web:http/proxy`.
    pub prefix: &'a str,
    /// The address the API server dialled.
    pub target: SocketAddr,
    /// The `Host` the client asked the API server for (`127.0.0.1:8001`
    /// behind `kubectl proxy`, which passes its own on), if it sent one.
    pub request_host: Option<&'a str>,
}

impl Links<'_> {
    /// `url` made to go through the proxy, or `None` when it is left as
    /// it is (relative, another host, not HTTP, already under the prefix).
    pub fn rewrite(&self, url: &str) -> Option<String> {
        if url.starts_with("//") {
            // A network-path reference: the page's scheme, another host.
            let parsed = Url::parse(&format!("http:{url}")).ok()?;
            return self.absolute(&parsed, "//");
        }
        if url.starts_with('/') {
            return (!self.under_prefix(url)).then(|| format!("{}{url}", self.prefix));
        }
        // Relative references (`app.css`, `?q`, `#top`) fail to parse
        // without a base; `mailto:`, `data:` and the like have no host.
        let parsed = Url::parse(url).ok()?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return None;
        }
        let scheme_and_slashes = format!("{}://", parsed.scheme());
        self.absolute(&parsed, &scheme_and_slashes)
    }

    /// An absolute URL (`start` is how it began: `http://` or `//`):
    /// to the target, it becomes path-absolute, the proxy's path in front
    /// (the target's address means nothing to the client); to the host the
    /// client asked for, it keeps that host and gets the proxy's path.
    fn absolute(&self, url: &Url, start: &str) -> Option<String> {
        let rest = &url[Position::BeforePath..];
        let to_target = match url.host()? {
            Host::Ipv4(ip) => self.target.ip() == ip,
            Host::Ipv6(ip) => self.target.ip() == ip,
            Host::Domain(_) => false,
        } && url.port_or_known_default() == Some(self.target.port());
        let authority = &url[Position::BeforeHost..Position::AfterPort];
        let to_client = self
            .request_host
            .is_some_and(|host| host.eq_ignore_ascii_case(authority));
        if !(to_target || to_client) {
            return None;
        }
        let path = format!("{}{rest}", self.prefix);
        let path = if self.under_prefix(rest) { rest } else { &path };
        Some(if to_target {
            path.to_string()
        } else {
            format!("{start}{authority}{path}")
        })
    }

    /// Whether `path` (and what follows it) is already under the proxy's
    /// path.
    fn under_prefix(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix)
            .is_some_and(|after| after.is_empty() || after.starts_with(['/', '?', '#']))
    }
}
// ANCHOR_END: links

impl Links<'_> {
    // ANCHOR: html
    /// The HTML page `body`, sent with `Content-Encoding: coding` and the
    /// `charset` of its `Content-Type`, decoded and with its links
    /// rewritten. An error says why the page is better passed on
    /// untouched: a coding or charset this cannot read, a page over
    /// [`LIMIT`], a body that does not decode.
    pub fn html(
        &self,
        body: &[u8],
        coding: &str,
        charset: Option<&str>,
    ) -> Result<Vec<u8>, String> {
        let encoding = match charset {
            None => AsciiCompatibleEncoding::utf_8(),
            Some(label) => encoding_rs::Encoding::for_label(label.trim().as_bytes())
                .and_then(AsciiCompatibleEncoding::new)
                .ok_or_else(|| format!("charset {label:?} is not one HTML can be read in"))?,
        };
        let page = decode(body, coding)?;
        let rewrite_element = |element: &mut Element<'_, '_>, names: &[&str]| -> HandlerResult {
            for name in names {
                let new = element.get_attribute(name).and_then(|v| self.rewrite(&v));
                if let Some(new) = new {
                    element.set_attribute(name, &new)?;
                }
            }
            Ok(())
        };
        let mut settings = Settings::new().with_encoding(encoding).with_strict(false);
        for (tag, names) in LINK_ATTRIBUTES {
            settings = settings
                .append_element_content_handler(element!(tag, move |e| rewrite_element(e, names)));
        }
        let mut out = Vec::with_capacity(page.len() + page.len() / 8);
        let mut rewriter = HtmlRewriter::new(settings, |chunk: &[u8]| {
            out.extend_from_slice(chunk);
        });
        let unreadable = |e: lol_html::errors::RewritingError| format!("the HTML: {e}");
        rewriter.write(&page).map_err(unreadable)?;
        rewriter.end().map_err(unreadable)?;
        Ok(out)
    }
    // ANCHOR_END: html
}

/// `body` decoded from `Content-Encoding: coding` (none, `gzip` or
/// `deflate`), no longer than [`LIMIT`].
fn decode<'b>(body: &'b [u8], coding: &str) -> Result<Cow<'b, [u8]>, String> {
    if body.len() > LIMIT {
        return Err(format!("{} bytes, over the {LIMIT} rewritten", body.len()));
    }
    let coding = coding.trim().to_ascii_lowercase();
    let decoded = match coding.as_str() {
        "" | "identity" => return Ok(Cow::Borrowed(body)),
        "gzip" | "x-gzip" => bounded(flate2::read::MultiGzDecoder::new(body)),
        // HTTP's `deflate` is zlib-wrapped; some servers send the raw
        // stream (and Go's, so Kubernetes', reader expects that).
        "deflate" => bounded(flate2::read::ZlibDecoder::new(body))
            .or_else(|_| bounded(flate2::read::DeflateDecoder::new(body))),
        other => {
            return Err(format!(
                "Content-Encoding {other:?} is not one this decodes"
            ));
        }
    };
    decoded
        .map(Cow::Owned)
        .map_err(|e| format!("the {coding} body: {e}"))
}

/// What `reader` gives, up to [`LIMIT`] bytes; more is an error.
fn bounded(reader: impl Read) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader.take(LIMIT as u64 + 1).read_to_end(&mut out)?;
    if out.len() > LIMIT {
        return Err(std::io::Error::other(format!(
            "over {LIMIT} bytes once decoded"
        )));
    }
    Ok(out)
}

/// The media type and charset of a `Content-Type` value, the type lower
/// case: `text/html; charset=UTF-8` is `("text/html", Some("UTF-8"))`.
pub fn media_type(content_type: &str) -> (String, Option<&str>) {
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches('"'))
    });
    (media, charset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const PREFIX: &str = "/api/v1/namespaces/default/services/web:http/proxy";

    fn links() -> Links<'static> {
        Links {
            prefix: PREFIX,
            target: "10.244.1.7:8080".parse().unwrap(),
            request_host: Some("127.0.0.1:8001"),
        }
    }

    #[test]
    fn urls_meaning_the_app_go_through_the_proxy() {
        let l = links();
        for (from, to) in [
            ("/", format!("{PREFIX}/")),
            ("/dir/", format!("{PREFIX}/dir/")),
            (
                "/a/b?x=1&amp;y=2#top",
                format!("{PREFIX}/a/b?x=1&amp;y=2#top"),
            ),
            ("http://10.244.1.7:8080/login", format!("{PREFIX}/login")),
            ("http://10.244.1.7:8080", format!("{PREFIX}/")),
            ("https://10.244.1.7:8080/s?q", format!("{PREFIX}/s?q")),
            ("//10.244.1.7:8080/cdn.js", format!("{PREFIX}/cdn.js")),
            (
                "http://127.0.0.1:8001/x/",
                format!("http://127.0.0.1:8001{PREFIX}/x/"),
            ),
            ("//127.0.0.1:8001/y", format!("//127.0.0.1:8001{PREFIX}/y")),
        ] {
            assert_eq!(l.rewrite(from).as_deref(), Some(to.as_str()), "{from}");
        }
    }

    #[test]
    fn relative_urls_other_hosts_and_other_schemes_are_left() {
        let l = links();
        for url in [
            "app.css",
            "./app.css",
            "../up",
            "dir/",
            "?page=2",
            "#top",
            "",
            "https://example.com/",
            "http://10.244.1.7/login",
            "http://10.244.1.7:9090/",
            "http://10.244.1.8:8080/",
            "//example.com/lib.js",
            "http://localhost:8001/",
            "mailto:admin@example.com",
            "javascript:void(0)",
            "data:image/png;base64,AAAA",
            "ftp://10.244.1.7:8080/",
            // Already through the proxy: a page rewritten twice stays right.
            PREFIX,
            "/api/v1/namespaces/default/services/web:http/proxy/x",
            "/api/v1/namespaces/default/services/web:http/proxy?q",
        ] {
            assert_eq!(l.rewrite(url), None, "{url}");
        }
        // The prefix is a path, not any string that begins like it.
        assert_eq!(
            l.rewrite(&format!("{PREFIX}x")),
            Some(format!("{PREFIX}{PREFIX}x"))
        );
        let absolute_under_prefix = format!("http://10.244.1.7:8080{PREFIX}/a");
        assert_eq!(
            l.rewrite(&absolute_under_prefix),
            Some(format!("{PREFIX}/a"))
        );
    }

    #[test]
    fn the_port_a_scheme_implies_counts() {
        let l = Links {
            prefix: PREFIX,
            target: "10.244.1.7:80".parse().unwrap(),
            request_host: None,
        };
        assert_eq!(
            l.rewrite("http://10.244.1.7/a"),
            Some(format!("{PREFIX}/a"))
        );
        assert_eq!(
            l.rewrite("http://10.244.1.7:80/a"),
            Some(format!("{PREFIX}/a"))
        );
        assert_eq!(l.rewrite("https://10.244.1.7/a"), None);
        let v6 = Links {
            target: "[fd00::7]:8080".parse().unwrap(),
            ..l
        };
        assert_eq!(
            v6.rewrite("http://[fd00::7]:8080/a"),
            Some(format!("{PREFIX}/a"))
        );
        assert_eq!(v6.rewrite("http://[fd00::8]:8080/a"), None);
    }

    const PAGE: &str = r#"<!DOCTYPE html>
<html><head><link rel="stylesheet" href="/static/app.css"><script src="/app.js"></script>
<script>var u = "/api/data";</script></head>
<body><a href="/dir/">dir</a> <a href='rel.html'>rel</a> <A HREF=/upper>up</A>
<a href="https://example.com/">away</a> <img src="http://10.244.1.7:8080/logo.png" alt="/not-a-link">
<form action="/submit" method="post"><input type="image" src="/go.png"></form>
<iframe src="//10.244.1.7:8080/frame"></iframe><p data-x="/kept">/text/kept</p>
<video poster="/p.jpg" src="/v.mp4"></video></body></html>
"#;

    fn expected() -> String {
        PAGE.replace("href=\"/static", &format!("href=\"{PREFIX}/static"))
            .replace("src=\"/app.js", &format!("src=\"{PREFIX}/app.js"))
            .replace("href=\"/dir/", &format!("href=\"{PREFIX}/dir/"))
            .replace("HREF=/upper", &format!("HREF=\"{PREFIX}/upper\""))
            .replace(
                "src=\"http://10.244.1.7:8080/logo.png",
                &format!("src=\"{PREFIX}/logo.png"),
            )
            .replace("action=\"/submit", &format!("action=\"{PREFIX}/submit"))
            .replace("src=\"/go.png", &format!("src=\"{PREFIX}/go.png"))
            .replace(
                "src=\"//10.244.1.7:8080/frame",
                &format!("src=\"{PREFIX}/frame"),
            )
            .replace("poster=\"/p.jpg", &format!("poster=\"{PREFIX}/p.jpg"))
            .replace("src=\"/v.mp4", &format!("src=\"{PREFIX}/v.mp4"))
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn an_html_page_has_its_link_attributes_rewritten_and_nothing_else() {
        let out = links().html(PAGE.as_bytes(), "", None).unwrap();
        // The quoting of an unquoted attribute is the one change beyond
        // the URLs; scripts, text and other attributes are as they came.
        assert_eq!(text(out), expected());
        // Rewriting the result again changes nothing.
        let again = links().html(expected().as_bytes(), "", None).unwrap();
        assert_eq!(text(again), expected());
    }

    #[test]
    fn gzip_and_deflate_pages_are_decoded_then_rewritten() {
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gzip.write_all(PAGE.as_bytes()).unwrap();
        let gzip = gzip.finish().unwrap();
        assert_eq!(text(links().html(&gzip, "gzip", None).unwrap()), expected());
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(PAGE.as_bytes()).unwrap();
        let zlib = zlib.finish().unwrap();
        assert_eq!(
            text(links().html(&zlib, "deflate", None).unwrap()),
            expected()
        );
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(PAGE.as_bytes()).unwrap();
        let raw = raw.finish().unwrap();
        assert_eq!(
            text(links().html(&raw, "Deflate", None).unwrap()),
            expected()
        );
        // Not what it says it is, or a coding this cannot read: untouched.
        let error = links().html(PAGE.as_bytes(), "gzip", None).unwrap_err();
        assert!(error.starts_with("the gzip body: "), "{error}");
        let error = links().html(&gzip, "br", None).unwrap_err();
        assert_eq!(error, "Content-Encoding \"br\" is not one this decodes");
    }

    #[test]
    fn pages_over_the_limit_are_refused_as_sent_and_as_decoded() {
        let big = vec![b' '; LIMIT + 1];
        let error = links().html(&big, "", None).unwrap_err();
        assert_eq!(
            error,
            format!("{} bytes, over the {LIMIT} rewritten", LIMIT + 1)
        );
        // A few KiB of gzip that decode to more than the limit.
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gzip.write_all(&big).unwrap();
        let gzip = gzip.finish().unwrap();
        assert!(gzip.len() < 64 * 1024, "{}", gzip.len());
        let error = links().html(&gzip, "gzip", None).unwrap_err();
        assert_eq!(
            error,
            format!("the gzip body: over {LIMIT} bytes once decoded")
        );
        // Exactly the limit is rewritten.
        let page = format!("<a href=\"/x\">{}</a>", " ".repeat(LIMIT - 17));
        assert_eq!(page.len(), LIMIT);
        let out = text(links().html(page.as_bytes(), "", None).unwrap());
        assert!(out.starts_with(&format!("<a href=\"{PREFIX}/x\">")));
    }

    #[test]
    fn charsets_are_honoured_and_unreadable_ones_refused() {
        // Latin-1 text around a link stays byte for byte.
        let page = b"<p>caf\xe9</p><a href=\"/x\">\xe9</a>";
        let out = links().html(page, "", Some("ISO-8859-1")).unwrap();
        let expected = [
            &b"<p>caf\xe9</p><a href=\""[..],
            PREFIX.as_bytes(),
            &b"/x\">\xe9</a>"[..],
        ]
        .concat();
        assert_eq!(out, expected);
        let error = links().html(page, "", Some("UTF-16LE")).unwrap_err();
        assert!(error.contains("UTF-16LE"), "{error}");
        let error = links().html(page, "", Some("no-such-charset")).unwrap_err();
        assert!(error.contains("no-such-charset"), "{error}");
    }

    #[test]
    fn content_types_are_split_into_type_and_charset() {
        assert_eq!(media_type("text/html"), ("text/html".into(), None));
        assert_eq!(
            media_type("Text/HTML ; Charset=\"iso-8859-1\""),
            ("text/html".into(), Some("iso-8859-1"))
        );
        assert_eq!(
            media_type("text/html;q=1;charset=utf-8"),
            ("text/html".into(), Some("utf-8"))
        );
        assert_eq!(media_type(""), ("".into(), None));
    }
}
