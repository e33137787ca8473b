//! Where in the object the decoder is, for error messages.
//!
//! Every field the decoder enters extends the path, but only an error ever
//! reads it. So the path is a chain of borrowed links on the stack, one per
//! level, and becomes text (`spec.containers[0].ports[1]`) only when an
//! error is made: decoding a valid body allocates no path strings.

use std::fmt;

/// One link of the chain, pointing at its parent.
#[derive(Debug, Clone, Copy)]
pub enum Path<'a> {
    /// Where the chain starts: `""` for the object itself, or a name such as
    /// "the envelope's typeMeta".
    Root(&'a str),
    /// A named field of the parent: `.ports`.
    Field(&'a Path<'a>, &'a str),
    /// An element of a list: `[1]`.
    Index(&'a Path<'a>, usize),
    /// An entry of a map: `[app]`.
    Key(&'a Path<'a>, &'a str),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(name) => f.write_str(name),
            Path::Field(parent, name) => {
                let parent = parent.to_string();
                if parent.is_empty() {
                    f.write_str(name)
                } else {
                    write!(f, "{parent}.{name}")
                }
            }
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
            Path::Key(parent, key) => write!(f, "{parent}[{key}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_kubernetes_field_paths() {
        let root = Path::Root("");
        let spec = Path::Field(&root, "spec");
        let containers = Path::Field(&spec, "containers");
        let first = Path::Index(&containers, 0);
        let resources = Path::Field(&first, "resources");
        let limits = Path::Field(&resources, "limits");
        let cpu = Path::Key(&limits, "cpu");
        assert_eq!(cpu.to_string(), "spec.containers[0].resources.limits[cpu]");
        assert_eq!(
            Path::Field(&Path::Root("typeMeta"), "kind").to_string(),
            "typeMeta.kind"
        );
    }
}
