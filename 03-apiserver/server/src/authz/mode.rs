//! `--authorization-mode`: which authorizers run, in which order.

use std::fmt;
use std::str::FromStr;

/// One authorizer kube-apiserver's `--authorization-mode` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every request is allowed: a server for tests on loopback.
    AlwaysAllow,
    /// Every request is refused (but `system:masters`).
    AlwaysDeny,
    /// Role-based access control from the four `rbac.authorization.k8s.io` kinds.
    Rbac,
    /// A node's credential (`system:node:<name>` in `system:nodes`) may
    /// touch only its own objects and what its pods name (`node.rs`).
    Node,
}

/// The modes in the order they are asked, never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modes(pub Vec<Mode>);

impl Default for Modes {
    /// `AlwaysAllow`, kube-apiserver's default.
    fn default() -> Modes {
        Modes(vec![Mode::AlwaysAllow])
    }
}

impl Modes {
    /// Whether RBAC is one of them (its policy must then be loaded).
    pub fn uses_rbac(&self) -> bool {
        self.0.contains(&Mode::Rbac)
    }

    /// Whether the Node authorizer is one of them (its graph of pods must
    /// then be followed).
    pub fn uses_node(&self) -> bool {
        self.0.contains(&Mode::Node)
    }

    /// `Node,RBAC`, what kube-apiserver's documentation recommends and
    /// `orc up` and `orc server` run.
    pub fn node_and_rbac() -> Modes {
        Modes(vec![Mode::Node, Mode::Rbac])
    }
}

/// Why a `--authorization-mode` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    /// A name that is not an authorization mode.
    #[error(
        "--authorization-mode: unknown mode {0:?}; use a comma-separated list of AlwaysAllow, AlwaysDeny, Node, RBAC"
    )]
    Unknown(String),
    /// A Kubernetes mode orc does not have.
    #[error("--authorization-mode: orc has no {0} authorizer; use Node,RBAC")]
    NotBuilt(String),
    /// The same mode twice, or none.
    #[error("--authorization-mode: {0}")]
    Invalid(String),
}

impl FromStr for Modes {
    type Err = ModeError;

    fn from_str(text: &str) -> Result<Modes, ModeError> {
        let mut modes = Vec::new();
        for name in text.split(',').map(str::trim) {
            let mode = match name {
                "AlwaysAllow" => Mode::AlwaysAllow,
                "AlwaysDeny" => Mode::AlwaysDeny,
                "RBAC" => Mode::Rbac,
                "Node" => Mode::Node,
                "ABAC" | "Webhook" => return Err(ModeError::NotBuilt(name.into())),
                "" => return Err(ModeError::Invalid("empty mode in the list".into())),
                other => return Err(ModeError::Unknown(other.into())),
            };
            if modes.contains(&mode) {
                return Err(ModeError::Invalid(format!("{name} is listed twice")));
            }
            modes.push(mode);
        }
        Ok(Modes(modes))
    }
}

impl fmt::Display for Modes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .0
            .iter()
            .map(|m| match m {
                Mode::AlwaysAllow => "AlwaysAllow",
                Mode::AlwaysDeny => "AlwaysDeny",
                Mode::Rbac => "RBAC",
                Mode::Node => "Node",
            })
            .collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_in_order_and_refuse_what_is_not_built() {
        assert_eq!("RBAC".parse::<Modes>().unwrap(), Modes(vec![Mode::Rbac]));
        let both: Modes = "AlwaysDeny, RBAC".parse().unwrap();
        assert_eq!(both.to_string(), "AlwaysDeny,RBAC");
        assert!(both.uses_rbac());
        let recommended: Modes = "Node,RBAC".parse().unwrap();
        assert_eq!(recommended, Modes::node_and_rbac());
        assert!(recommended.uses_node() && recommended.uses_rbac());
        assert!(matches!("ABAC,RBAC".parse::<Modes>(), Err(ModeError::NotBuilt(n)) if n == "ABAC"));
        assert!(matches!(
            "rbac".parse::<Modes>(),
            Err(ModeError::Unknown(_))
        ));
        assert!(matches!(
            "RBAC,RBAC".parse::<Modes>(),
            Err(ModeError::Invalid(_))
        ));
        assert!(matches!("".parse::<Modes>(), Err(ModeError::Invalid(_))));
    }
}
