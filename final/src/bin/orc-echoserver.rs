//! `orc-echoserver`: Kubernetes 101's echo server, the app of the
//! `echoserver:1.4` image orc builds from its recipe
//! (`final/recipes/echoserver.yaml`).
//!
//! It answers every request on `$PORT` (8080) with a plain-text page
//! describing that request: who sent it, the method, path and query, every
//! header and the body. Students use it to see what reaches a pod through
//! a Service, a NodePort or an Ingress: the client address shows whether
//! the packet was masqueraded, the `host` header which name was used.
//!
//! Why a Rust program and not a busybox httpd CGI script: httpd runs CGI
//! only under `/cgi-bin/`, and the echo server must answer *every* path;
//! and why not Node.js: Kubernetes 101 should work on a machine without
//! it. Only the standard library: one thread per connection, one request
//! per connection (`Connection: close`), which is all a tutorial needs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

/// A body larger than this is not echoed (only its size is).
const MAX_ECHOED_BODY: usize = 64 * 1024;

fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = match TcpListener::bind(format!("0.0.0.0:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("orc-echoserver: cannot listen on port {port} (set PORT to another): {e}");
            std::process::exit(1);
        }
    };
    eprintln!("orc-echoserver: listening on :{port}");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || {
            if let Err(e) = serve(stream) {
                eprintln!("orc-echoserver: {e}");
            }
        });
    }
}

/// The request as the client sent it.
struct Request {
    method: String,
    target: String,
    version: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    let peer = stream.peer_addr()?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    eprintln!(
        "{peer} \"{} {} {}\"",
        request.method, request.target, request.version
    );
    let page = describe(&request, peer);
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
        page.len()
    )?;
    stream.flush()
}

/// Reads the request line, the headers, and a `Content-Length` body.
/// `None` when the client closed before sending a request line.
fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (method, target, version) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("/").to_string(),
        parts.next().unwrap_or("HTTP/1.0").to_string(),
    );
    let mut headers = vec![];
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![];
    reader.take(length as u64).read_to_end(&mut body)?;
    Ok(Some(Request {
        method,
        target,
        version,
        headers,
        body,
    }))
}

/// The page: the same sections, in the same order, as the echoserver
/// image of the Kubernetes tutorials prints.
fn describe(request: &Request, peer: SocketAddr) -> String {
    let (path, query) = match request.target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (request.target.as_str(), "nil"),
    };
    let host = request
        .headers
        .iter()
        .find(|(n, _)| n == "host")
        .map_or("", |(_, v)| v.as_str());
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut headers = request.headers.clone();
    headers.sort();
    let mut page = format!(
        "\nHostname: {}\n\nPod Information:\n\t-no pod information available-\n\n\
         Server values:\n\tserver_version=orc-echoserver\n\n\
         Request Information:\n\tclient_address={}\n\tmethod={}\n\treal path={path}\n\tquery={query}\n\t\
         request_version={}\n\trequest_uri=http://{host}{}\n\nRequest Headers:\n",
        hostname.trim(),
        peer.ip(),
        request.method,
        request.version.trim_start_matches("HTTP/"),
        request.target,
    );
    for (name, value) in headers {
        page.push_str(&format!("\t{name}={value}\n"));
    }
    page.push_str("\nRequest Body:\n");
    match request.body.len() {
        0 => page.push_str("\t-no body in request-\n"),
        n if n > MAX_ECHOED_BODY => page.push_str(&format!("\t-{n} bytes, not shown-\n")),
        _ => page.push_str(&format!("{}\n", String::from_utf8_lossy(&request.body))),
    }
    page
}
