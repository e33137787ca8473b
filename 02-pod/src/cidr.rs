//! IPv4 CIDR blocks: the unit every part of the pod network is planned in.
//!
//! A cluster gets one large block (the *cluster CIDR*, `10.244.0.0/16` in the
//! book), and each node gets a slice of it (its *pod CIDR*, `10.244.1.0/24`).
//! Kubernetes does the slicing in the controller manager and writes the result
//! to `node.spec.podCIDR`; in this chapter the tests simply pick the slices.
//!
//! The arithmetic is done on `u32`s: an IPv4 address *is* a 32-bit number, and
//! a prefix length `n` means "the top `n` bits name the network".

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IPv4 network such as `10.244.1.0/24`.
///
/// Always normalised: the host bits of `network` are zero, so two values for
/// the same block compare equal (`10.244.1.7/24` parses to `10.244.1.0/24`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix: u8,
}

/// Why a string is not a CIDR block.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidrError {
    #[error("`{0}` is not a CIDR block: write it as ADDRESS/PREFIX, e.g. 10.244.1.0/24")]
    MissingSlash(String),
    #[error("`{0}` is not a CIDR block: the address is not an IPv4 address")]
    BadAddress(String),
    #[error("`{0}` is not a CIDR block: the prefix length must be a number from 0 to 32")]
    BadPrefix(String),
}

impl Ipv4Cidr {
    /// The block of `prefix` bits that contains `address`.
    ///
    /// Panics when `prefix > 32`; use [`str::parse`] for untrusted input.
    pub fn new(address: Ipv4Addr, prefix: u8) -> Ipv4Cidr {
        assert!(
            prefix <= 32,
            "an IPv4 prefix has at most 32 bits, not {prefix}"
        );
        Ipv4Cidr {
            network: Ipv4Addr::from(u32::from(address) & mask(prefix)),
            prefix,
        }
    }

    /// The first address of the block, with all host bits zero.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// How many leading bits name the network.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The last address of the block, with all host bits one. On a LAN it is
    /// the broadcast address, so no pod may have it.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix))
    }

    /// The first usable address, which orc gives to the node's bridge: every
    /// pod on the node uses it as its default gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// Whether `address` lies inside the block.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & mask(self.prefix) == u32::from(self.network)
    }

    /// How many addresses the block spans, network and broadcast included.
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }
}

/// The netmask of a prefix length as a number: `/24` is `0xffff_ff00`.
fn mask(prefix: u8) -> u32 {
    // `u32::MAX << 32` overflows, so the empty mask of `/0` is spelled out.
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Ipv4Cidr, CidrError> {
        let (address, prefix) = text
            .split_once('/')
            .ok_or_else(|| CidrError::MissingSlash(text.to_string()))?;
        let address: Ipv4Addr = address
            .parse()
            .map_err(|_| CidrError::BadAddress(text.to_string()))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| CidrError::BadPrefix(text.to_string()))?;
        Ok(Ipv4Cidr::new(address, prefix))
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

// A CIDR is stored as the string people write (`"10.244.1.0/24"`), so state
// files and manifests stay readable with `cat`.
impl Serialize for Ipv4Cidr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Ipv4Cidr {
        text.parse().unwrap()
    }

    #[test]
    fn a_node_pod_cidr_has_network_gateway_and_broadcast() {
        let block = cidr("10.244.1.0/24");
        assert_eq!(block.network(), Ipv4Addr::new(10, 244, 1, 0));
        assert_eq!(block.gateway(), Ipv4Addr::new(10, 244, 1, 1));
        assert_eq!(block.broadcast(), Ipv4Addr::new(10, 244, 1, 255));
        assert_eq!(block.size(), 256);
        assert_eq!(block.to_string(), "10.244.1.0/24");
    }

    #[test]
    fn host_bits_are_cleared() {
        assert_eq!(cidr("10.244.1.77/24"), cidr("10.244.1.0/24"));
        assert_eq!(cidr("10.244.200.1/16").to_string(), "10.244.0.0/16");
    }

    #[test]
    fn contains_checks_the_network_bits_only() {
        let cluster = cidr("10.244.0.0/16");
        assert!(cluster.contains(Ipv4Addr::new(10, 244, 3, 9)));
        assert!(!cluster.contains(Ipv4Addr::new(10, 245, 0, 1)));
        assert!(cidr("0.0.0.0/0").contains(Ipv4Addr::new(192, 168, 50, 1)));
        assert!(cidr("192.168.50.1/32").contains(Ipv4Addr::new(192, 168, 50, 1)));
    }

    #[test]
    fn bad_input_says_what_is_wrong() {
        assert_eq!(
            "10.244.1.0".parse::<Ipv4Cidr>(),
            Err(CidrError::MissingSlash("10.244.1.0".into()))
        );
        assert_eq!(
            "10.244.1/24".parse::<Ipv4Cidr>(),
            Err(CidrError::BadAddress("10.244.1/24".into()))
        );
        assert_eq!(
            "10.244.1.0/33".parse::<Ipv4Cidr>(),
            Err(CidrError::BadPrefix("10.244.1.0/33".into()))
        );
    }

    #[test]
    fn serialises_as_the_string_people_write() {
        let json = serde_json::to_string(&cidr("10.244.1.0/24")).unwrap();
        assert_eq!(json, r#""10.244.1.0/24""#);
        assert_eq!(
            serde_json::from_str::<Ipv4Cidr>(&json).unwrap(),
            cidr("10.244.1.0/24")
        );
    }
}
