//! `orc-guestbook`: the guestbook tutorial's web frontend, the program of
//! the `gb-frontend:v4` and `:v5` images orc builds from its recipes
//! (`final/recipes/gb-frontend-v4.yaml`, `gb-frontend-v5.yaml`).
//!
//! The tutorial's frontend is a PHP page and one script, `guestbook.php`,
//! that a browser calls with a query string: `?cmd=set&key=K&value=V`
//! writes the key on the Redis *leader* (the one replica that takes
//! writes) and answers `{"message": "Updated"}`; `?cmd=get&key=K` reads it
//! from the Redis *followers* and answers `{"data": "V"}`. This program
//! answers the same requests the same way, so the tutorial's manifests and
//! a `curl` on its NodePort work unchanged; `/` serves a small page that
//! lists the messages and adds one.
//!
//! Which Services it talks to: `REDIS_WRITE_SERVICE` and
//! `REDIS_READ_SERVICE` (the v4 image's recipe sets `redis-master` and
//! `redis-slave`, the v5 one `redis-leader` and `redis-follower`), found
//! by DNS name, or, with `GET_HOSTS_FROM=env`, through the
//! `<SERVICE>_SERVICE_HOST` variables the node agent sets for every
//! Service, as the PHP script does. Listens on `$PORT` (80).

use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

/// Redis' port on both Services.
const REDIS_PORT: u16 = 6379;
/// How long a Redis connection or command may take before the request
/// fails with a 503 naming the Service.
const REDIS_TIMEOUT: Duration = Duration::from_secs(3);

/// Where writes and reads go.
#[derive(Clone)]
struct Backends {
    write: String,
    read: String,
}

impl Backends {
    /// From the environment, as the recipe and the pod set it.
    fn from_env() -> Result<Backends, String> {
        let by_env = std::env::var("GET_HOSTS_FROM").is_ok_and(|v| v == "env");
        let host = |variable: &str, default: &str| -> Result<String, String> {
            let service = std::env::var(variable).unwrap_or_else(|_| default.to_string());
            if !by_env {
                return Ok(service);
            }
            // What the node agent names a Service's address variable.
            let name = format!("{}_SERVICE_HOST", service.to_uppercase().replace('-', "_"));
            std::env::var(&name).map_err(|_| {
                format!(
                    "GET_HOSTS_FROM=env but {name} is not set: create the {service} \
                     Service before this pod (the variables are set when a pod starts), \
                     or use GET_HOSTS_FROM=dns"
                )
            })
        };
        Ok(Backends {
            write: host("REDIS_WRITE_SERVICE", "redis-leader")?,
            read: host("REDIS_READ_SERVICE", "redis-follower")?,
        })
    }
}

/// `guestbook.php`'s query string.
#[derive(Deserialize)]
struct Command {
    cmd: Option<String>,
    key: Option<String>,
    value: Option<String>,
}

fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "80".into());
    let backends = match Backends::from_env() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("orc-guestbook: {e}");
            std::process::exit(1);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(format!("0.0.0.0:{port}")).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("orc-guestbook: cannot listen on port {port} (set PORT to another): {e}");
                std::process::exit(1);
            }
        };
        eprintln!(
            "orc-guestbook: listening on :{port}; writes to {}, reads from {}",
            backends.write, backends.read
        );
        let app = Router::new()
            .route("/", get(page))
            .route("/guestbook.php", get(guestbook))
            .with_state(backends);
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("orc-guestbook: {e}");
            std::process::exit(1);
        }
    });
}

/// `GET /guestbook.php?cmd=...`: a write to the leader or a read from the
/// followers.
async fn guestbook(State(backends): State<Backends>, Query(c): Query<Command>) -> Response {
    let Some(key) = c.key.filter(|k| !k.is_empty()) else {
        return failure(
            StatusCode::BAD_REQUEST,
            "a key is needed: ?cmd=get&key=messages",
        );
    };
    match c.cmd.as_deref() {
        Some("set") => {
            let value = c.value.unwrap_or_default();
            let host = backends.write.clone();
            match redis_call(&host, move |conn| {
                redis::cmd("SET").arg(&key).arg(&value).query::<()>(conn)
            })
            .await
            {
                Ok(()) => json(serde_json::json!({"message": "Updated"})),
                Err(e) => failure(StatusCode::SERVICE_UNAVAILABLE, &e),
            }
        }
        Some("get") => {
            let host = backends.read.clone();
            match redis_call(&host, move |conn| {
                redis::cmd("GET").arg(&key).query::<Option<String>>(conn)
            })
            .await
            {
                Ok(value) => json(serde_json::json!({"data": value.unwrap_or_default()})),
                Err(e) => failure(StatusCode::SERVICE_UNAVAILABLE, &e),
            }
        }
        _ => failure(
            StatusCode::BAD_REQUEST,
            "cmd must be set or get: ?cmd=set&key=messages&value=hi, ?cmd=get&key=messages",
        ),
    }
}

/// Runs `call` on a fresh connection to Redis on `host` (one per request,
/// as the PHP script connects per request), off the async threads.
async fn redis_call<T: Send + 'static>(
    host: &str,
    call: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T> + Send + 'static,
) -> Result<T, String> {
    let url = format!("redis://{host}:{REDIS_PORT}/");
    let what = format!("redis at {host}:{REDIS_PORT}");
    tokio::task::spawn_blocking(move || {
        let client = redis::Client::open(url.as_str()).map_err(|e| format!("{what}: {e}"))?;
        let mut conn = client
            .get_connection_with_timeout(REDIS_TIMEOUT)
            .map_err(|e| format!("{what}: {e}"))?;
        conn.set_read_timeout(Some(REDIS_TIMEOUT))
            .and_then(|()| conn.set_write_timeout(Some(REDIS_TIMEOUT)))
            .map_err(|e| format!("{what}: {e}"))?;
        call(&mut conn).map_err(|e| format!("{what}: {e}"))
    })
    .await
    .map_err(|e| format!("redis call: {e}"))?
}

fn json(value: serde_json::Value) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn failure(code: StatusCode, message: &str) -> Response {
    eprintln!("orc-guestbook: {code}: {message}");
    let body = serde_json::json!({"error": message});
    (
        code,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The page: the messages (a comma-separated list under the key
/// `messages`, as the tutorial's page keeps them) and a box to add one.
async fn page() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = r#"<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>Guestbook</title></head>
<body>
<h1>Guestbook</h1>
<form id="add"><input id="message" placeholder="Messages" autofocus> <button>Submit</button></form>
<ul id="messages"></ul>
<script>
const list = document.getElementById('messages');
let messages = [];
function show() {
  list.replaceChildren(...messages.map(m => {
    const li = document.createElement('li');
    li.textContent = m;
    return li;
  }));
}
async function load() {
  const r = await fetch('guestbook.php?cmd=get&key=messages');
  const data = (await r.json()).data || '';
  messages = data ? data.split(',') : [];
  show();
}
document.getElementById('add').addEventListener('submit', async e => {
  e.preventDefault();
  const input = document.getElementById('message');
  if (!input.value) return;
  messages.push(input.value.replaceAll(',', ' '));
  input.value = '';
  show();
  const value = encodeURIComponent(messages.join(','));
  await fetch('guestbook.php?cmd=set&key=messages&value=' + value);
});
load();
</script>
</body>
</html>
"#;
