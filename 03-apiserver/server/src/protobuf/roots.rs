//! Which message a top-level object decodes with, from the envelope's
//! `apiVersion` and `kind`.
//!
//! Kubernetes keeps each group version's types in one Go package,
//! `k8s.io/api/<group>/<version>`, where `<group>` is the API group's first
//! label (`apps`, `networking` for `networking.k8s.io`, `rbac` for
//! `rbac.authorization.k8s.io`) and `core` for the unnamed core group; the
//! protobuf package is that path with dots. So `apps/v1 Deployment` is the
//! message `k8s.io.api.apps.v1.Deployment`.
//!
//! The descriptors describe every GA kind, but orc decodes only the kinds
//! it serves (the resource table, [`orc_client::resources`]: add a row there and
//! its protobuf bodies are read too) and the bodies of the subresource and
//! delete requests it answers. Any other kind is refused here, before a
//! byte of the object is read, with a message that says to send JSON.

use super::message::Message;
use super::schema;
use orc_client::resources;

/// The meta/v1 package: `DeleteOptions` and the other shared types.
const META_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

// ANCHOR: roots
/// The message a top-level object of `api_version` and `kind` is encoded
/// with: the kinds orc serves, plus the bodies of the `scale`, `binding`
/// and `eviction` subresources and `DeleteOptions`.
pub fn root(api_version: &str, kind: &str) -> Option<&'static Message> {
    let served = resources::by_kind(api_version, kind).is_some()
        || matches!(
            (api_version, kind),
            ("v1", "Binding")
                | ("autoscaling/v1", "Scale")
                | ("policy/v1", "Eviction")
                | ("authentication.k8s.io/v1", "TokenRequest")
        );
    let full_name = match kind {
        // Every group version registers DeleteOptions, so its apiVersion
        // is whichever the client's scheme picked.
        "DeleteOptions" => format!("{META_V1}.DeleteOptions"),
        _ if served => format!("{}.{kind}", package(api_version)?),
        _ => return None,
    };
    schema::kubernetes().get(&full_name)
}
// ANCHOR_END: roots

/// The protobuf package of an `apiVersion`: `apps/v1` →
/// `k8s.io.api.apps.v1`, `v1` → `k8s.io.api.core.v1`.
fn package(api_version: &str) -> Option<String> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let short = if group.is_empty() {
        "core"
    } else {
        group.split('.').next()?
    };
    Some(format!("k8s.io.api.{short}.{version}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_kind_and_request_body_has_its_message() {
        for r in resources::RESOURCES {
            let message = root(&r.api_version(), r.kind)
                .unwrap_or_else(|| panic!("no message for {} {}", r.api_version(), r.kind));
            assert_eq!(message.name, r.kind);
        }
        assert_eq!(
            root("networking.k8s.io/v1", "Ingress").unwrap().full_name,
            "k8s.io.api.networking.v1.Ingress"
        );
        assert_eq!(
            root("v1", "Binding").unwrap().full_name,
            "k8s.io.api.core.v1.Binding"
        );
        let scale = root("autoscaling/v1", "Scale").unwrap();
        assert_eq!(scale.full_name, "k8s.io.api.autoscaling.v1.Scale");
        for api_version in ["meta.k8s.io/v1", "v1", "apps/v1"] {
            let options = root(api_version, "DeleteOptions").unwrap();
            assert_eq!(options.full_name, format!("{META_V1}.DeleteOptions"));
        }
    }

    #[test]
    fn kinds_orc_does_not_serve_are_not_roots_though_described() {
        assert!(
            schema::kubernetes()
                .get("k8s.io.api.storage.v1.CSIDriver")
                .is_some()
        );
        assert!(root("storage.k8s.io/v1", "CSIDriver").is_none());
        // A served kind under the wrong version, or no such kind at all.
        assert!(root("apps/v1beta1", "Deployment").is_none());
        assert!(root("v1", "Nothing").is_none());
        assert!(root("", "").is_none());
    }

    #[test]
    fn packages_follow_the_go_package_layout() {
        assert_eq!(package("v1").unwrap(), "k8s.io.api.core.v1");
        assert_eq!(package("batch/v1").unwrap(), "k8s.io.api.batch.v1");
        assert_eq!(
            package("rbac.authorization.k8s.io/v1").unwrap(),
            "k8s.io.api.rbac.v1"
        );
    }
}
