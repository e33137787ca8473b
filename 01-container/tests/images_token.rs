//! The bearer-token flow (what Docker Hub and most hosted registries use),
//! against a small token-protected registry run by this test on loopback:
//! it serves an OCI layout and answers `401` with a `Bearer` challenge until
//! the client brings the token its token endpoint hands out.

mod images_common;
use images_common::World;
use orc_container::image::auth::Credentials;
use orc_container::image::build;
use orc_container::image::registry::{PullOptions, pull};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const TOKEN: &str = "tok-for-tests";

/// Requests the server saw, for assertions: (request line, authorization).
type Log = Arc<Mutex<Vec<(String, String)>>>;

fn serve(layout: PathBuf) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let log: Log = Arc::default();
    let (l, a) = (log.clone(), addr.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (layout, log, addr) = (layout.clone(), l.clone(), a.clone());
            std::thread::spawn(move || handle(stream, &layout, &log, &addr));
        }
    });
    (addr, log)
}

/// One request per connection (we answer `Connection: close`).
fn handle(stream: TcpStream, layout: &Path, log: &Log, addr: &str) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut auth = String::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        if h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                auth = v.trim().to_string();
            }
        }
    }
    log.lock()
        .unwrap()
        .push((line.trim().to_string(), auth.clone()));
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let reply = |status: &str, headers: &str, body: &[u8]| {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
            body.len()
        );
        let mut s = &stream;
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
    };
    if path.starts_with("/token?") {
        let body = format!(r#"{{"token": "{TOKEN}"}}"#);
        return reply(
            "200 OK",
            "Content-Type: application/json\r\n",
            body.as_bytes(),
        );
    }
    if auth != format!("Bearer {TOKEN}") {
        let challenge = format!(
            "WWW-Authenticate: Bearer realm=\"http://{addr}/token\",service=\"orc-test\",scope=\"repository:private/app:pull\"\r\n"
        );
        return reply(
            "401 Unauthorized",
            &challenge,
            br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
        );
    }
    let blob = |digest: &str| {
        std::fs::read(
            layout
                .join("blobs/sha256")
                .join(digest.trim_start_matches("sha256:")),
        )
    };
    let found = if let Some(r) = path.strip_prefix("/v2/private/app/manifests/") {
        // A tag is looked up in index.json; a digest is a blob.
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let digest = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == r)
            .map_or(r.to_string(), |m| m["digest"].as_str().unwrap().to_string());
        blob(&digest)
            .ok()
            .map(|b| (b, "application/vnd.oci.image.manifest.v1+json"))
    } else if let Some(d) = path.strip_prefix("/v2/private/app/blobs/") {
        blob(d).ok().map(|b| (b, "application/octet-stream"))
    } else {
        None
    };
    match found {
        Some((body, kind)) => reply("200 OK", &format!("Content-Type: {kind}\r\n"), &body),
        None => reply("404 Not Found", "", b"{}"),
    }
}

#[test]
fn bearer_tokens_are_fetched_from_the_challenge_realm() {
    let w = World::new();
    let layout = w.path("layout");
    let digest = build::busybox_image(&layout, "v1").unwrap();
    let (addr, log) = serve(layout);
    let options = PullOptions {
        credentials: Some(Credentials::parse("bob:hunter2").unwrap()),
        ..Default::default()
    };
    let (_, pulled) = pull(&w.store, &format!("{addr}/private/app:v1"), &options).unwrap();
    assert_eq!(pulled, digest);

    let log = log.lock().unwrap();
    // First try anonymous, get challenged, fetch a token with the user's
    // password, then use the token for everything else.
    assert_eq!(
        log[0],
        (
            "GET /v2/private/app/manifests/v1 HTTP/1.1".into(),
            String::new()
        )
    );
    assert_eq!(
        log[1].0,
        "GET /token?service=orc-test&scope=repository%3Aprivate%2Fapp%3Apull HTTP/1.1"
    );
    assert_eq!(log[1].1, Credentials::parse("bob:hunter2").unwrap().basic());
    assert!(
        log[2..]
            .iter()
            .all(|(_, auth)| auth == &format!("Bearer {TOKEN}"))
    );
    assert_eq!(
        log.len(),
        2 + 1 + 2,
        "manifest again, then config and one layer"
    );
}
