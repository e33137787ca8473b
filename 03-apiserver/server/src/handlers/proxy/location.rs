//! Where a proxy request goes: Kubernetes' `ResourceLocation` for pods
//! (`pkg/registry/core/pod/strategy.go`) and for services
//! (`pkg/registry/core/service/storage/storage.go`), as pure functions of
//! the objects the API server read from its own store.
//!
//! The answer is always an IP address and a port taken from those objects:
//! a pod's `status.podIPs`, or an address of one of its Service's
//! EndpointSlices. Nothing the client sends names the host: the client
//! only names the object (`web`) and, at most, a port and `http` or
//! `https`. That is what keeps the proxy from being a way to make the API
//! server call any address its caller likes (server-side request forgery):
//! only someone allowed to write a pod's status or an EndpointSlice can
//! choose where it dials, and even then never a loopback or link-local
//! address (the API server's own ports, a cloud's metadata service), which
//! [`proxyable`] refuses as Kubernetes' `IsProxyableIP` does.

use std::net::{IpAddr, SocketAddr};

use serde_json::Value;

use crate::status::ApiError;

/// How the API server speaks to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP: the default when the request names no scheme.
    Http,
    /// HTTPS, the target's certificate not checked: it is for a pod IP,
    /// which no certificate names (kube-apiserver's proxy transport sets
    /// `InsecureSkipVerify` for the same reason).
    Https,
}

impl Scheme {
    /// The port a URL of this scheme has when it names none.
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

// ANCHOR: proxy_id
/// The name part of a proxy path, `[scheme:]name[:port]`
/// (`web`, `web:8080`, `https:web:8443`, `web:http` for a Service's
/// port named `http`), split as Kubernetes' `SplitSchemeNamePort` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyId<'a> {
    pub scheme: Scheme,
    pub name: &'a str,
    /// A number or, for a Service, a port name; `""` when not given.
    pub port: &'a str,
}

impl<'a> ProxyId<'a> {
    /// `None` for anything but one, two or three `:`-separated parts, an
    /// empty name, or a scheme other than `http` and `https`.
    pub fn parse(id: &'a str) -> Option<ProxyId<'a>> {
        let parts: Vec<&str> = id.split(':').collect();
        let (scheme, name, port) = match parts.as_slice() {
            [name] => ("", *name, ""),
            [name, port] => ("", *name, *port),
            [scheme, name, port] => (*scheme, *name, *port),
            _ => return None,
        };
        let scheme = match scheme {
            "" | "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return None,
        };
        (!name.is_empty()).then_some(ProxyId { scheme, name, port })
    }
}
// ANCHOR_END: proxy_id

/// Where the API server dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub scheme: Scheme,
    pub address: SocketAddr,
}

// ANCHOR: proxyable
/// Whether the API server may dial `ip`: a global unicast address, as Go's
/// `IsGlobalUnicast` (Kubernetes' `IsProxyableIP`) decides. Refused:
/// unspecified, loopback (the API server itself, etcd on 127.0.0.1),
/// link-local (169.254.169.254, a cloud's metadata service), multicast
/// and broadcast.
pub fn proxyable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast())
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => proxyable(IpAddr::V4(v4)),
            None => {
                let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
                !(v6.is_unspecified() || v6.is_loopback() || v6.is_multicast() || link_local)
            }
        },
    }
}
// ANCHOR_END: proxyable

// ANCHOR: pod_location
/// Where a pod's proxy goes: its first IP (`status.podIPs[0]`, else
/// `status.podIP`) and the port asked for, else the first
/// `containerPort` of its containers, else the scheme's default.
///
/// The port is a number, or the name of a container port (`web:http`:
/// the `containerPort` of the port named `http`). No container port of
/// that name is 503 `error trying to reach service: ...`, the answer
/// kube-apiserver gives once its dial of a name it does not know fails
/// (Kubernetes itself looks no name up: Go's dialler takes `http` as
/// port 80 from `/etc/services`, whatever the pod declares).
///
/// A pod without an IP (not started yet) or with one the API server may
/// not dial is Kubernetes' 400 `address not allowed`.
pub fn pod_location(pod: &Value, id: &ProxyId<'_>, raw_id: &str) -> Result<Location, ApiError> {
    let status = &pod["status"];
    let ip = status["podIPs"][0]["ip"]
        .as_str()
        .or_else(|| status["podIP"].as_str())
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .filter(|ip| proxyable(*ip))
        .ok_or_else(|| ApiError::BadRequest("address not allowed".into()))?;
    let port = match id.port {
        "" => first_container_port(pod).unwrap_or(id.scheme.default_port()),
        text if text.bytes().all(|b| b.is_ascii_digit()) => text
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "invalid pod request {raw_id:?}: the port must be a number from 1 to 65535 \
                     or the name of a container port"
                ))
            })?,
        name => named_container_port(pod, name).ok_or_else(|| {
            ApiError::BackendUnavailable(format!(
                "error trying to reach service: pod {:?} has no container port named {name:?} \
                 (its ports: {})",
                id.name,
                container_port_names(pod)
            ))
        })?,
    };
    Ok(Location {
        scheme: id.scheme,
        address: SocketAddr::new(ip, port),
    })
}
// ANCHOR_END: pod_location

/// Every port its containers declare (`spec.containers[*].ports[*]`).
fn container_ports(pod: &Value) -> impl Iterator<Item = &Value> {
    let containers = pod["spec"]["containers"].as_array().into_iter().flatten();
    containers.flat_map(|c| c["ports"].as_array().into_iter().flatten())
}

/// The first `containerPort` of the first container that declares one.
fn first_container_port(pod: &Value) -> Option<u16> {
    let port = container_ports(pod).next()?;
    u16::try_from(port["containerPort"].as_u64()?).ok()
}

/// The `containerPort` of the container port named `name`.
fn named_container_port(pod: &Value, name: &str) -> Option<u16> {
    let port = container_ports(pod).find(|p| p["name"].as_str() == Some(name))?;
    u16::try_from(port["containerPort"].as_u64()?)
        .ok()
        .filter(|p| *p != 0)
}

/// The names of the pod's container ports, for an error: `"http", "metrics"`
/// or `none named`.
fn container_port_names(pod: &Value) -> String {
    let names: Vec<String> = container_ports(pod)
        .filter_map(|p| p["name"].as_str())
        .map(|n| format!("{n:?}"))
        .collect();
    if names.is_empty() {
        "none named".to_string()
    } else {
        names.join(", ")
    }
}

// ANCHOR: service_port_name
/// The name of the Service port a proxy request means. A number is looked
/// up among `spec.ports` and replaced by that port's name (which may be
/// `""`, the one unnamed port); no such port is Kubernetes' 503
/// `no service port 81 found for service "web"`. A name is taken as is.
pub fn service_port_name(service: &Value, id: &ProxyId<'_>) -> Result<String, ApiError> {
    let Ok(number) = id.port.parse::<i64>() else {
        return Ok(id.port.to_string());
    };
    let ports = service["spec"]["ports"].as_array().into_iter().flatten();
    ports
        .into_iter()
        .find(|p| p["port"].as_i64() == Some(number))
        .map(|p| p["name"].as_str().unwrap_or("").to_string())
        .ok_or_else(|| {
            ApiError::BackendUnavailable(format!(
                "no service port {number} found for service {:?}",
                id.name
            ))
        })
}
// ANCHOR_END: service_port_name

// ANCHOR: service_location
/// Where a Service's proxy goes: one ready endpoint of its EndpointSlices
/// (`slices`, those labelled `kubernetes.io/service-name: <service>`),
/// on the slice's port named `port_name`, the `pick`-th of all candidates
/// modulo their number (the caller picks at random, as Kubernetes does).
///
/// An endpoint is a candidate when it is ready (`conditions.ready` true or
/// unset: the API says unset means ready), its slice is of IP addresses
/// (an `FQDN` slice is never dialled: a name would be resolved by the API
/// server's own DNS), its address is [`proxyable`], and its slice has the
/// port. None: Kubernetes' 503 `no endpoints available for service
/// "web"`, naming the service when it has no endpoint at all, and the
/// whole request (`web:http`) when it has some but none that fits.
///
/// The Service's own `spec.type` does not matter: an `ExternalName`
/// Service has no EndpointSlices, so its proxy answers that 503 and its
/// `externalName` is never looked up.
pub fn service_location(
    id: &ProxyId<'_>,
    raw_id: &str,
    port_name: &str,
    slices: &[Value],
    pick: usize,
) -> Result<Location, ApiError> {
    let mut any_endpoint = false;
    let mut ready: Vec<SocketAddr> = Vec::new();
    for slice in slices {
        if !matches!(slice["addressType"].as_str(), Some("IPv4" | "IPv6")) {
            continue;
        }
        let endpoints = slice["endpoints"].as_array().map(Vec::as_slice);
        let endpoints = endpoints.unwrap_or_default();
        any_endpoint |= !endpoints.is_empty();
        let ports = slice["ports"].as_array().into_iter().flatten();
        let port = ports
            .into_iter()
            .find(|p| p["name"].as_str().unwrap_or("") == port_name)
            .and_then(|p| p["port"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0);
        let Some(port) = port else { continue };
        for endpoint in endpoints {
            if endpoint["conditions"]["ready"] == Value::Bool(false) {
                continue;
            }
            let addresses = endpoint["addresses"].as_array().into_iter().flatten();
            let ips = addresses.filter_map(|a| a.as_str()?.parse::<IpAddr>().ok());
            ready.extend(
                ips.filter(|ip| proxyable(*ip))
                    .map(|ip| SocketAddr::new(ip, port)),
            );
        }
    }
    if ready.is_empty() {
        let who = if any_endpoint { raw_id } else { id.name };
        return Err(ApiError::BackendUnavailable(format!(
            "no endpoints available for service {who:?}"
        )));
    }
    Ok(Location {
        scheme: id.scheme,
        address: ready[pick % ready.len()],
    })
}
// ANCHOR_END: service_location

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(text: &str) -> ProxyId<'_> {
        ProxyId::parse(text).unwrap()
    }

    #[test]
    fn names_split_as_kubernetes_splits_them() {
        let parsed = |t| ProxyId::parse(t).map(|i| (i.scheme, i.name, i.port));
        assert_eq!(parsed("web"), Some((Scheme::Http, "web", "")));
        assert_eq!(parsed("web:8080"), Some((Scheme::Http, "web", "8080")));
        assert_eq!(parsed("web:http"), Some((Scheme::Http, "web", "http")));
        assert_eq!(
            parsed("https:web:8443"),
            Some((Scheme::Https, "web", "8443"))
        );
        assert_eq!(parsed("http:web:"), Some((Scheme::Http, "web", "")));
        // A scheme needs three parts; two are a name and a port.
        assert_eq!(parsed("https:web"), Some((Scheme::Http, "https", "web")));
        for bad in ["", ":80", "ftp:web:21", "a:b:c:d", "https::443"] {
            assert_eq!(parsed(bad), None, "{bad:?}");
        }
    }

    fn pod(ips: Value, ports: Value) -> Value {
        json!({
            "spec": {"containers": [{"name": "a"}, {"name": "b", "ports": ports}]},
            "status": ips,
        })
    }

    #[test]
    fn a_pod_is_reached_on_its_first_ip_and_the_port_asked_for_or_declared() {
        let p = pod(
            json!({"podIP": "10.1.0.9", "podIPs": [{"ip": "10.1.0.7"}, {"ip": "fd00::7"}]}),
            json!([{"containerPort": 8080, "name": "http"}, {"containerPort": 9090, "name": "metrics"}]),
        );
        let at = |text| pod_location(&p, &id(text), text).map(|l| (l.scheme, l.address));
        assert_eq!(
            at("web").unwrap(),
            (Scheme::Http, "10.1.0.7:8080".parse().unwrap())
        );
        assert_eq!(at("web:81").unwrap().1, "10.1.0.7:81".parse().unwrap());
        assert_eq!(
            at("https:web:8443").unwrap(),
            (Scheme::Https, "10.1.0.7:8443".parse().unwrap())
        );
        // A name: the container port of that name, in any container.
        assert_eq!(
            at("web:metrics").unwrap().1,
            "10.1.0.7:9090".parse().unwrap()
        );
        assert_eq!(at("web:http").unwrap().1, "10.1.0.7:8080".parse().unwrap());
        let missing = at("web:admin").unwrap_err();
        assert_eq!(missing.code().as_u16(), 503);
        assert_eq!(
            missing.to_string(),
            "error trying to reach service: pod \"web\" has no container port named \"admin\" \
             (its ports: \"http\", \"metrics\")"
        );
        for bad in ["web:0", "web:65536", "web:99999999999"] {
            let message = at(bad).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("invalid pod request {bad:?}")),
                "{message}"
            );
        }
        // No declared port: the scheme's.
        let bare = pod(json!({"podIP": "10.1.0.7"}), json!([]));
        let location = pod_location(&bare, &id("https:web:"), "https:web:").unwrap();
        assert_eq!(location.address, "10.1.0.7:443".parse().unwrap());
        let error = pod_location(&bare, &id("web:http"), "web:http").unwrap_err();
        assert!(
            error.to_string().ends_with("(its ports: none named)"),
            "{error}"
        );
    }

    #[test]
    fn a_pod_without_a_dialable_ip_is_address_not_allowed() {
        for status in [
            json!({}),
            json!({"podIP": "127.0.0.1"}),
            json!({"podIPs": [{"ip": "169.254.169.254"}]}),
            json!({"podIP": "::1"}),
            json!({"podIP": "::ffff:127.0.0.1"}),
            json!({"podIP": "0.0.0.0"}),
            json!({"podIP": "web.example.com"}),
        ] {
            let error = pod_location(&pod(status.clone(), json!([])), &id("web"), "web");
            let error = error.unwrap_err();
            assert_eq!(error.code().as_u16(), 400, "{status}");
            assert_eq!(error.to_string(), "address not allowed");
        }
    }

    fn service() -> Value {
        json!({"spec": {"ports": [
            {"name": "http", "port": 80, "targetPort": 8080},
            {"name": "metrics", "port": 9100, "targetPort": "metrics"},
        ]}})
    }

    #[test]
    fn a_service_port_number_means_the_name_of_that_port() {
        assert_eq!(
            service_port_name(&service(), &id("web:80")).unwrap(),
            "http"
        );
        assert_eq!(
            service_port_name(&service(), &id("web:metrics")).unwrap(),
            "metrics"
        );
        assert_eq!(service_port_name(&service(), &id("web")).unwrap(), "");
        let missing = service_port_name(&service(), &id("web:81")).unwrap_err();
        assert_eq!(missing.code().as_u16(), 503);
        assert_eq!(
            missing.to_string(),
            "no service port 81 found for service \"web\""
        );
    }

    fn slice(address_type: &str, ports: Value, endpoints: Value) -> Value {
        json!({"addressType": address_type, "ports": ports, "endpoints": endpoints})
    }

    fn endpoint(ip: &str, ready: Option<bool>) -> Value {
        match ready {
            Some(ready) => json!({"addresses": [ip], "conditions": {"ready": ready}}),
            None => json!({"addresses": [ip]}),
        }
    }

    #[test]
    fn a_service_is_reached_on_a_ready_endpoint_at_its_target_port() {
        let slices = [
            slice(
                "IPv4",
                json!([{"name": "http", "port": 8080}, {"name": "metrics", "port": 9100}]),
                json!([
                    endpoint("10.1.0.5", Some(false)),
                    endpoint("10.1.0.6", None),
                    endpoint("127.0.0.1", Some(true)),
                ]),
            ),
            slice(
                "IPv4",
                json!([{"name": "http", "port": 8081}]),
                json!([endpoint("10.1.0.7", Some(true))]),
            ),
            slice(
                "FQDN",
                json!([{"name": "http", "port": 80}]),
                json!([endpoint("example.com", Some(true))]),
            ),
        ];
        let chosen: Vec<SocketAddr> = (0..4)
            .map(|pick| {
                service_location(&id("web:http"), "web:http", "http", &slices, pick)
                    .unwrap()
                    .address
            })
            .collect();
        // Not ready, loopback and names are never chosen; every pick
        // lands on one of the two that may be.
        let expected: Vec<SocketAddr> = ["10.1.0.6:8080", "10.1.0.7:8081"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(chosen, [&expected[..], &expected[..]].concat());
        let metrics = service_location(&id("web:metrics"), "web:metrics", "metrics", &slices, 1);
        assert_eq!(metrics.unwrap().address, "10.1.0.6:9100".parse().unwrap());
    }

    #[test]
    fn a_service_without_a_ready_endpoint_is_503_in_kubernetes_words() {
        let none = service_location(&id("web:http"), "web:http", "http", &[], 0).unwrap_err();
        assert_eq!(none.code().as_u16(), 503);
        assert_eq!(
            none.to_string(),
            "no endpoints available for service \"web\""
        );
        let unready = [slice(
            "IPv4",
            json!([{"name": "http", "port": 8080}]),
            json!([endpoint("10.1.0.5", Some(false))]),
        )];
        let error = service_location(&id("web:http"), "web:http", "http", &unready, 0);
        assert_eq!(
            error.unwrap_err().to_string(),
            "no endpoints available for service \"web:http\""
        );
        // Ready, but on no port of that name.
        let error = service_location(&id("web:admin"), "web:admin", "admin", &unready, 0);
        assert_eq!(error.unwrap_err().code().as_u16(), 503);
    }
}
