//! Image references: `busybox`, `busybox:1.36`,
//! `127.0.0.1:5000/team/app@sha256:...`.
//!
//! A reference names a registry, a repository in it, and either a tag (a
//! movable name) or a digest (an immutable one). We parse them the way
//! Docker does, because every tutorial and manifest in the wild is written
//! for that grammar:
//!
//! - the first `/`-separated part is a registry host only if it looks like
//!   one (has a `.` or a `:`, or is `localhost`); otherwise the registry is
//!   Docker Hub, `docker.io`;
//! - a one-part name on Docker Hub lives under `library/` (the "official
//!   images"), so `busybox` is `docker.io/library/busybox`;
//! - no tag and no digest means the tag `latest`.
//!
//! The canonical form ([`Reference`]'s `Display`) is what the store's tag
//! index uses as a key, so `busybox` and `docker.io/library/busybox:latest`
//! are the same image.

use super::ImageError;
use super::digest::Digest;
use std::fmt;

/// Docker Hub's name in references. Its API lives elsewhere
/// ([`Reference::api_host`]).
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`, e.g. `docker.io` or `127.0.0.1:5000`.
    pub registry: String,
    /// `team/app`, or `library/busybox` on Docker Hub.
    pub repository: String,
    /// `None` only when a digest is given without a tag.
    pub tag: Option<String>,
    /// Pins the exact manifest; wins over the tag when pulling.
    pub digest: Option<Digest>,
}

// ANCHOR: parse_reference
impl Reference {
    pub fn parse(input: &str) -> Result<Reference, ImageError> {
        let bad = |problem: &str| ImageError::BadReference {
            reference: input.to_string(),
            problem: problem.to_string(),
        };
        if input.is_empty() {
            return Err(bad(
                "empty; give a name like `busybox` or `host:5000/app:1.0`",
            ));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => (rest, Some(Digest::parse(d)?)),
            None => (input, None),
        };
        // A `:` after the last `/` starts the tag; one before it belongs
        // to a registry port (`host:5000/app`).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].split_once(':') {
            Some((_, tag)) => (
                &rest[..last_slash + rest[last_slash..].find(':').unwrap()],
                Some(tag),
            ),
            None => (rest, None),
        };
        let (registry, repository) = match name.split_once('/') {
            // Docker Hub named in full keeps the same rules as when it is
            // left out: `docker.io/redis` is the official `library/redis`
            // (what Kubernetes' manifests write, e.g. the guestbook's
            // `docker.io/redis:6.0.5`), and `index.docker.io` is its old name.
            Some((DOCKER_HUB | "index.docker.io", path)) if !path.contains('/') => {
                (DOCKER_HUB.to_string(), format!("library/{path}"))
            }
            Some(("index.docker.io", path)) => (DOCKER_HUB.to_string(), path.to_string()),
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path.to_string())
            }
            _ if !name.contains('/') => (DOCKER_HUB.to_string(), format!("library/{name}")),
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        for part in repository.split('/') {
            let ok = !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part.as_bytes()[0].is_ascii_alphanumeric();
            if !ok {
                return Err(bad(&format!(
                    "repository part `{part}` must be lowercase letters, digits and `._-`, starting with a letter or digit"
                )));
            }
        }
        if let Some(tag) = tag {
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
                && tag.as_bytes()[0] != b'.'
                && tag.as_bytes()[0] != b'-';
            if !ok {
                return Err(bad(&format!(
                    "tag `{tag}` must be 1 to 128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`"
                )));
            }
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some("latest".to_string()),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }
}
// ANCHOR_END: parse_reference

impl Reference {
    /// What to ask the registry for: the digest if pinned, else the tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// The host serving the Registry API: Docker Hub's is not `docker.io`.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn docker_style_defaults() {
        assert_eq!(canon("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(canon("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(canon("team/app"), "docker.io/team/app:latest");
        // Docker Hub written out names the same images.
        assert_eq!(
            canon("docker.io/redis:6.0.5"),
            "docker.io/library/redis:6.0.5"
        );
        assert_eq!(
            canon("index.docker.io/redis"),
            "docker.io/library/redis:latest"
        );
        assert_eq!(canon("docker.io/team/app"), "docker.io/team/app:latest");
        assert_eq!(
            canon("docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(canon("localhost/app"), "localhost/app:latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("127.0.0.1:5000/team/app@{d}")).unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_reference(), d);
        assert_eq!(canon("127.0.0.1:5000/app:v1"), "127.0.0.1:5000/app:v1");
        assert_eq!(
            Reference::parse("busybox").unwrap().api_host(),
            "registry-1.docker.io"
        );
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        let e = |s| Reference::parse(s).unwrap_err().to_string();
        assert!(e("").contains("empty"));
        assert!(e("BusyBox").contains("lowercase"), "{}", e("BusyBox"));
        assert!(e("busybox:").contains("tag ``"));
        assert!(e("busybox@sha256:12").contains("64 lowercase hex"));
        assert!(e("a//b").contains("repository part ``"));
    }
}
