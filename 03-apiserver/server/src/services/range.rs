//! The two ranges a Service draws from: cluster IPs (`10.96.0.0/12`) and
//! node ports (`30000-32767`), as kube-apiserver's
//! `--service-cluster-ip-range` and `--service-node-port-range`.
//!
//! Both are plain arithmetic on a base and a size, so a value can be
//! turned into its offset in the range and back; the allocator draws
//! offsets at random.
//!
//! (orc-pod has its own `Ipv4Cidr` for pod blocks; the API server may not
//! link node code, and a service range needs only what is here.)

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 block of cluster IPs, e.g. `10.96.0.0/12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceCidr {
    /// The network address (host bits zero).
    network: Ipv4Addr,
    /// The prefix length, 8 to 30: a range needs room for the network
    /// and broadcast addresses and at least the `.1` and `.10` reserved
    /// below, and a /8 (16 million addresses) is more than any cluster.
    prefix: u8,
}

/// Offset of the `kubernetes` Service's address: the first in the range.
const KUBERNETES_OFFSET: u32 = 1;
/// Offset of the cluster DNS Service's address (kube-dns, `.10`). Not
/// Kubernetes' rule but its custom: kubeadm and most installers give DNS
/// the tenth address, so random allocation leaves it alone.
const DNS_OFFSET: u32 = 10;

impl ServiceCidr {
    /// How many addresses the block spans, network and broadcast included.
    pub fn size(&self) -> u32 {
        1u32 << (32 - self.prefix)
    }

    /// The address `offset` places after the network address.
    pub fn nth(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + offset)
    }

    /// Where `ip` sits in the block, if it is inside it.
    pub fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        let offset = u32::from(ip).wrapping_sub(u32::from(self.network));
        (u32::from(ip) >= u32::from(self.network) && offset < self.size()).then_some(offset)
    }

    /// Whether `ip` can be a cluster IP: inside the block, and neither its
    /// network nor its broadcast address (Kubernetes' allocator leaves
    /// both out of the range it hands from).
    pub fn holds(&self, ip: Ipv4Addr) -> bool {
        self.offset(ip)
            .is_some_and(|offset| offset != 0 && offset != self.size() - 1)
    }

    /// The `kubernetes` Service's address: the first in the block.
    pub fn kubernetes_ip(&self) -> Ipv4Addr {
        self.nth(KUBERNETES_OFFSET)
    }

    /// The address kept for cluster DNS (`.10`).
    pub fn dns_ip(&self) -> Ipv4Addr {
        self.nth(DNS_OFFSET)
    }

    /// Whether random allocation must skip `ip`: it is promised to the
    /// `kubernetes` Service or to cluster DNS, which ask for it by name.
    pub fn is_reserved(&self, ip: Ipv4Addr) -> bool {
        matches!(self.offset(ip), Some(KUBERNETES_OFFSET | DNS_OFFSET))
    }
}

impl Default for ServiceCidr {
    /// kube-apiserver's documented default, `10.96.0.0/12`.
    fn default() -> Self {
        ServiceCidr {
            network: Ipv4Addr::new(10, 96, 0, 0),
            prefix: 12,
        }
    }
}

impl fmt::Display for ServiceCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Why a range given on the command line was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RangeError {
    /// Not `a.b.c.d/n`.
    #[error("{0:?} is not an IPv4 CIDR such as 10.96.0.0/12")]
    NotCidr(String),
    /// The prefix leaves too few or too many addresses.
    #[error("{0:?}: the prefix must be between /8 and /28")]
    Prefix(String),
    /// Host bits are set (`10.96.0.1/12`).
    #[error("{0:?} has host bits set; did you mean {1}?")]
    HostBits(String, String),
    /// Not `first-last` with first ≤ last.
    #[error("{0:?} is not a port range such as 30000-32767")]
    NotPorts(String),
}

impl FromStr for ServiceCidr {
    type Err = RangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let not_cidr = || RangeError::NotCidr(s.to_string());
        let (address, prefix) = s.split_once('/').ok_or_else(not_cidr)?;
        let address: Ipv4Addr = address.parse().map_err(|_| not_cidr())?;
        let prefix: u8 = prefix.parse().map_err(|_| not_cidr())?;
        if !(8..=28).contains(&prefix) {
            return Err(RangeError::Prefix(s.to_string()));
        }
        let mask = u32::MAX << (32 - prefix);
        let network = Ipv4Addr::from(u32::from(address) & mask);
        if network != address {
            return Err(RangeError::HostBits(
                s.to_string(),
                format!("{network}/{prefix}"),
            ));
        }
        Ok(ServiceCidr { network, prefix })
    }
}

/// The node ports, `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    /// The lowest port.
    pub first: u16,
    /// The highest port.
    pub last: u16,
}

impl PortRange {
    /// How many ports the range holds.
    pub fn size(&self) -> u32 {
        u32::from(self.last) - u32::from(self.first) + 1
    }

    /// Whether `port` is in the range.
    pub fn contains(&self, port: i64) -> bool {
        (i64::from(self.first)..=i64::from(self.last)).contains(&port)
    }

    /// The port `offset` places after the first.
    pub fn nth(&self, offset: u32) -> u16 {
        // The offset is below `size()`, so the sum stays a port number.
        u16::try_from(u32::from(self.first) + offset).unwrap_or(self.last)
    }
}

impl Default for PortRange {
    /// kube-apiserver's default, `30000-32767`.
    fn default() -> Self {
        PortRange {
            first: 30000,
            last: 32767,
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for PortRange {
    type Err = RangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || RangeError::NotPorts(s.to_string());
        let (first, last) = s.split_once('-').ok_or_else(bad)?;
        let first: u16 = first.trim().parse().map_err(|_| bad())?;
        let last: u16 = last.trim().parse().map_err(|_| bad())?;
        if first == 0 || first > last {
            return Err(bad());
        }
        Ok(PortRange { first, last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_range_keeps_network_broadcast_and_reserved_addresses_out() {
        let cidr = ServiceCidr::default();
        assert_eq!(cidr.to_string(), "10.96.0.0/12");
        assert_eq!(cidr.size(), 1 << 20);
        assert_eq!(cidr.kubernetes_ip(), Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(cidr.dns_ip(), Ipv4Addr::new(10, 96, 0, 10));
        assert!(cidr.holds(Ipv4Addr::new(10, 111, 255, 254)));
        assert!(!cidr.holds(Ipv4Addr::new(10, 111, 255, 255)), "broadcast");
        assert!(!cidr.holds(Ipv4Addr::new(10, 96, 0, 0)), "network");
        assert!(!cidr.holds(Ipv4Addr::new(10, 112, 0, 1)), "outside");
        assert!(!cidr.holds(Ipv4Addr::new(9, 0, 0, 1)), "below");
        assert!(cidr.is_reserved(Ipv4Addr::new(10, 96, 0, 10)));
        assert!(!cidr.is_reserved(Ipv4Addr::new(10, 96, 0, 11)));
    }

    #[test]
    fn ranges_parse_and_refuse_with_the_fix() {
        assert_eq!(
            "10.0.0.0/24".parse::<ServiceCidr>().unwrap().nth(7),
            Ipv4Addr::new(10, 0, 0, 7)
        );
        assert_eq!(
            "10.96.0.1/12"
                .parse::<ServiceCidr>()
                .unwrap_err()
                .to_string(),
            "\"10.96.0.1/12\" has host bits set; did you mean 10.96.0.0/12?"
        );
        assert!("10.0.0.0/30".parse::<ServiceCidr>().is_err());
        assert!("nonsense".parse::<ServiceCidr>().is_err());
        let ports: PortRange = "30000-32767".parse().unwrap();
        assert_eq!((ports, ports.size()), (PortRange::default(), 2768));
        assert_eq!(ports.nth(2767), 32767);
        assert!("32767-30000".parse::<PortRange>().is_err());
    }
}
