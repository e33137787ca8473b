//! The cluster's names as a table: every name orc-dns answers for, with
//! its records, and the lookup that turns a question into an answer.
//!
//! The table is rebuilt from Services, EndpointSlices and pods whenever
//! one changes ([`super::build`]); a question never looks at the objects
//! themselves. That keeps the answer a pure function of (table, name,
//! type), which is what the unit tests below and lab 06 check, and what
//! chapter 06's "How a name becomes an address" walks through.
//!
//! The records are the Kubernetes DNS specification's (version 1.1.0,
//! `dns-version` says so), all with a 5-second TTL, as CoreDNS' default.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// Every record's time to live, in seconds: how long a client may keep
/// an answer. Short, because pods come and go (CoreDNS' default too).
pub const TTL: u32 = 5;

/// The version of the Kubernetes DNS specification these records follow,
/// served as `dns-version.<zone>` TXT.
pub const SPEC_VERSION: &str = "1.1.0";

/// The data of one record. Names are absolute, lower case, with the
/// trailing dot (`web.default.svc.cluster.local.`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rdata {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// This name is another's alias (an ExternalName Service).
    Cname(String),
    /// Where a named port is: `_http._tcp.web.default.svc.cluster.local.`
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    /// The name of an address, for reverse lookups.
    Ptr(String),
    /// Free text (`dns-version`).
    Txt(String),
    /// The zone's start of authority: who answers for `cluster.local`
    /// and how long a resolver may remember that a name is not there.
    Soa {
        /// The zone's name server (`ns.dns.cluster.local.`).
        mname: String,
        /// Its keeper's mailbox, `@` as a dot (`hostmaster.cluster.local.`).
        rname: String,
        /// The table's version: the Unix time of its last rebuild.
        serial: u32,
    },
}

/// The kinds of question the table can answer; anything else (AAAA,
/// MX, ...) finds the name but no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    A,
    Cname,
    Srv,
    Ptr,
    Txt,
    Soa,
    /// A type the cluster has no records of (AAAA on an IPv4 cluster).
    Other,
}

impl Rdata {
    fn kind(&self) -> Kind {
        match self {
            Rdata::A(_) => Kind::A,
            Rdata::Cname(_) => Kind::Cname,
            Rdata::Srv { .. } => Kind::Srv,
            Rdata::Ptr(_) => Kind::Ptr,
            Rdata::Txt(_) => Kind::Txt,
            Rdata::Soa { .. } => Kind::Soa,
        }
    }
}

/// One answer record: its owner name and data (the TTL is always [`TTL`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub data: Rdata,
}

/// What orc-dns does with a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The name exists: these records (empty: it has none of that type,
    /// "NODATA", which tells a client not to try its other search domains
    /// for this type... but the name is real).
    Records(Vec<Record>),
    /// The name is in the cluster's zone and does not exist (NXDOMAIN):
    /// orc-dns is the authority, so nobody else is asked.
    NoSuchName,
    /// Not the cluster's name: ask the host's resolvers.
    Forward,
}

// ANCHOR: table
/// The names of one cluster and their records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    /// The cluster domain, absolute and lower case (`cluster.local.`).
    zone: String,
    /// Forward names (`web.default.svc.cluster.local.`) and their data.
    names: BTreeMap<String, Vec<Rdata>>,
    /// Reverse names: an address and the names that point at it.
    reverse: BTreeMap<Ipv4Addr, Vec<String>>,
    /// Names that hold no record but have names under them
    /// (`svc.cluster.local.`, `default.svc.cluster.local.`): they exist,
    /// so a question for them is answered "no data", never NXDOMAIN.
    parents: BTreeSet<String>,
    /// The SOA record's serial (see [`Records::set_serial`]).
    serial: u32,
}
// ANCHOR_END: table

/// `name` lower case with one trailing dot: the table's form of a name.
pub fn absolute(name: &str) -> String {
    let mut name = name.trim_end_matches('.').to_ascii_lowercase();
    name.push('.');
    name
}

/// The `in-addr.arpa.` name of `ip` (`10.96.0.1` is `1.0.96.10.in-addr.arpa.`).
pub fn reverse_name(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa.")
}

/// The address an `in-addr.arpa.` name stands for, if it names a whole one.
fn reverse_ip(name: &str) -> Option<Ipv4Addr> {
    let labels: Vec<&str> = name.strip_suffix(".in-addr.arpa.")?.split('.').collect();
    let [d, c, b, a] = labels.as_slice() else {
        return None;
    };
    Some(Ipv4Addr::new(
        a.parse().ok()?,
        b.parse().ok()?,
        c.parse().ok()?,
        d.parse().ok()?,
    ))
}

/// How many aliases an answer follows inside the cluster before it stops
/// (an ExternalName pointing at another ExternalName, and so on).
const MAX_ALIASES: usize = 8;

impl Records {
    /// An empty table for the cluster domain `zone` (`cluster.local`),
    /// holding only `dns-version.<zone>`.
    pub fn new(zone: &str) -> Records {
        let mut records = Records {
            zone: absolute(zone),
            ..Records::default()
        };
        let version = format!("dns-version.{}", records.zone);
        records.add(&version, Rdata::Txt(SPEC_VERSION.into()));
        records
    }

    /// The cluster domain, absolute (`cluster.local.`).
    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// Adds a record for `name` (kept once however often it is added).
    pub fn add(&mut self, name: &str, data: Rdata) {
        let name = absolute(name);
        // Every name between this one and the zone now exists too.
        let mut parent = name.as_str();
        while let Some((_, rest)) = parent.split_once('.') {
            if rest.len() <= self.zone.len() || !self.parents.insert(rest.to_string()) {
                break;
            }
            parent = rest;
        }
        let all = self.names.entry(name).or_default();
        if !all.contains(&data) {
            all.push(data);
            all.sort();
        }
    }

    /// Sets the SOA serial: the Unix time (seconds) of the rebuild that
    /// made this table, as CoreDNS does, so it grows with every change.
    pub fn set_serial(&mut self, serial: u32) {
        self.serial = serial;
    }

    /// The zone's SOA record, which an answer that finds nothing carries
    /// in its authority section (RFC 2308): a resolver remembers the
    /// "no such name" for the record's minimum TTL, [`TTL`], and no
    /// longer, so a Service created a moment later resolves at once.
    pub fn soa(&self) -> Record {
        Record {
            name: self.zone.clone(),
            data: Rdata::Soa {
                mname: format!("ns.dns.{}", self.zone),
                rname: format!("hostmaster.{}", self.zone),
                serial: self.serial,
            },
        }
    }

    /// Says that `ip`'s name is `name`, for reverse lookups.
    pub fn add_reverse(&mut self, ip: Ipv4Addr, name: &str) {
        let all = self.reverse.entry(ip).or_default();
        let name = absolute(name);
        if !all.contains(&name) {
            all.push(name);
            all.sort();
        }
    }

    // ANCHOR: answer
    /// The answer to "what are `name`'s records of kind `kind`?".
    ///
    /// A name under the cluster's zone is answered from the table alone:
    /// found, found without that type (NODATA), or not there (NXDOMAIN).
    /// A reverse name is answered when the address is a Service's or an
    /// endpoint's. Everything else is somebody else's: forwarded.
    pub fn answer(&self, name: &str, kind: Kind) -> Answer {
        let name = absolute(name);
        if let Some(ip) = reverse_ip(&name) {
            return match self.reverse.get(&ip) {
                Some(names) if kind == Kind::Ptr => Answer::Records(
                    names
                        .iter()
                        .map(|n| Record {
                            name: name.clone(),
                            data: Rdata::Ptr(n.clone()),
                        })
                        .collect(),
                ),
                Some(_) => Answer::Records(vec![]),
                None => Answer::Forward,
            };
        }
        if !self.in_zone(&name) {
            return Answer::Forward;
        }
        if name == self.zone {
            // The zone's apex: its SOA, and no data of any other type.
            let soa = if kind == Kind::Soa {
                vec![self.soa()]
            } else {
                vec![]
            };
            return Answer::Records(soa);
        }
        let mut answers = Vec::new();
        let mut current = name;
        // Follow aliases inside the cluster, as a resolver would, so one
        // answer carries the ExternalName's CNAME and its target's address.
        for _ in 0..MAX_ALIASES {
            let Some(data) = self.names.get(&current) else {
                // The first name missing is NXDOMAIN; an alias whose target
                // is outside the table ends the chain (the client asks on).
                return if answers.is_empty() && self.parents.contains(&current) {
                    Answer::Records(answers)
                } else if answers.is_empty() {
                    Answer::NoSuchName
                } else {
                    Answer::Records(answers)
                };
            };
            let record = |data: &Rdata| Record {
                name: current.clone(),
                data: data.clone(),
            };
            match data.iter().find(|d| d.kind() == Kind::Cname) {
                Some(alias @ Rdata::Cname(target)) if kind != Kind::Cname => {
                    answers.push(record(alias));
                    current = absolute(target);
                    if !self.in_zone(&current) {
                        break;
                    }
                }
                _ => {
                    answers.extend(data.iter().filter(|d| d.kind() == kind).map(record));
                    break;
                }
            }
        }
        Answer::Records(answers)
    }
    // ANCHOR_END: answer

    /// Whether `name` (absolute) is the zone or under it.
    pub fn in_zone(&self, name: &str) -> bool {
        name == self.zone || name.ends_with(&format!(".{}", self.zone))
    }

    /// How many names the table holds (forward and reverse).
    pub fn len(&self) -> usize {
        self.names.len() + self.reverse.len()
    }

    /// Whether the table holds nothing but `dns-version`.
    pub fn is_empty(&self) -> bool {
        self.len() <= 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(ip: &str) -> Rdata {
        Rdata::A(ip.parse().unwrap())
    }

    fn records(answer: Answer) -> Vec<(String, Rdata)> {
        match answer {
            Answer::Records(r) => r.into_iter().map(|r| (r.name, r.data)).collect(),
            other => panic!("expected records, got {other:?}"),
        }
    }

    fn table() -> Records {
        let mut t = Records::new("cluster.local");
        t.add("web.default.svc.cluster.local", a("10.96.0.20"));
        t.add_reverse(
            "10.96.0.20".parse().unwrap(),
            "web.default.svc.cluster.local",
        );
        t.add(
            "ext.default.svc.cluster.local",
            Rdata::Cname("web.default.svc.cluster.local".into()),
        );
        t.add(
            "out.default.svc.cluster.local",
            Rdata::Cname("example.org".into()),
        );
        t
    }

    #[test]
    fn names_are_case_insensitive_and_absolute() {
        assert_eq!(
            absolute("Web.Default.SVC.cluster.local"),
            "web.default.svc.cluster.local."
        );
        assert_eq!(absolute("cluster.local."), "cluster.local.");
        assert_eq!(
            records(table().answer("WEB.default.svc.cluster.local.", Kind::A)),
            [("web.default.svc.cluster.local.".into(), a("10.96.0.20"))]
        );
    }

    #[test]
    fn a_known_name_without_the_type_is_nodata_not_nxdomain() {
        assert_eq!(
            table().answer("web.default.svc.cluster.local", Kind::Other),
            Answer::Records(vec![])
        );
        assert_eq!(
            table().answer("web.default.svc.cluster.local", Kind::Txt),
            Answer::Records(vec![])
        );
    }

    #[test]
    fn unknown_names_in_the_zone_are_nxdomain_and_others_are_forwarded() {
        let t = table();
        assert_eq!(
            t.answer("nope.default.svc.cluster.local", Kind::A),
            Answer::NoSuchName
        );
        // The search list's first try for an FQDN typed without its dot.
        assert_eq!(
            t.answer(
                "web.default.svc.cluster.local.default.svc.cluster.local",
                Kind::A
            ),
            Answer::NoSuchName
        );
        assert_eq!(t.answer("example.org", Kind::A), Answer::Forward);
        // Not fooled by a name that merely ends in the same letters.
        assert_eq!(t.answer("notcluster.local", Kind::A), Answer::Forward);
    }

    #[test]
    fn the_apex_and_the_names_above_a_record_exist_without_data() {
        let mut t = table();
        t.set_serial(1_700_000_000);
        assert_eq!(
            records(t.answer("cluster.local", Kind::Soa)),
            [(
                "cluster.local.".into(),
                Rdata::Soa {
                    mname: "ns.dns.cluster.local.".into(),
                    rname: "hostmaster.cluster.local.".into(),
                    serial: 1_700_000_000
                }
            )]
        );
        assert_eq!(t.answer("cluster.local", Kind::A), Answer::Records(vec![]));
        // Empty non-terminals: NODATA, so a resolver that walks a name
        // label by label (QNAME minimisation) does not conclude that
        // nothing exists under them (RFC 8020).
        for parent in ["svc.cluster.local", "default.svc.cluster.local"] {
            assert_eq!(
                t.answer(parent, Kind::A),
                Answer::Records(vec![]),
                "{parent}"
            );
        }
        assert_eq!(
            t.answer("other.svc.cluster.local", Kind::A),
            Answer::NoSuchName
        );
        assert_eq!(t.answer("pod.cluster.local", Kind::A), Answer::NoSuchName);
        // SOA is asked of the apex only.
        assert_eq!(
            t.answer("web.default.svc.cluster.local", Kind::Soa),
            Answer::Records(vec![])
        );
    }

    #[test]
    fn dns_version_is_txt() {
        assert_eq!(
            records(table().answer("dns-version.cluster.local", Kind::Txt)),
            [(
                "dns-version.cluster.local.".into(),
                Rdata::Txt("1.1.0".into())
            )]
        );
    }

    #[test]
    fn an_alias_is_followed_inside_the_cluster_and_left_outside() {
        let t = table();
        assert_eq!(
            records(t.answer("ext.default.svc.cluster.local", Kind::A)),
            [
                (
                    "ext.default.svc.cluster.local.".into(),
                    Rdata::Cname("web.default.svc.cluster.local".into())
                ),
                ("web.default.svc.cluster.local.".into(), a("10.96.0.20")),
            ]
        );
        assert_eq!(
            records(t.answer("out.default.svc.cluster.local", Kind::A)),
            [(
                "out.default.svc.cluster.local.".into(),
                Rdata::Cname("example.org".into())
            )]
        );
        // Asked for the CNAME itself, only the CNAME.
        assert_eq!(
            records(t.answer("ext.default.svc.cluster.local", Kind::Cname)).len(),
            1
        );
    }

    #[test]
    fn an_alias_loop_ends() {
        let mut t = Records::new("cluster.local");
        t.add(
            "a.ns.svc.cluster.local",
            Rdata::Cname("b.ns.svc.cluster.local".into()),
        );
        t.add(
            "b.ns.svc.cluster.local",
            Rdata::Cname("a.ns.svc.cluster.local".into()),
        );
        assert_eq!(
            records(t.answer("a.ns.svc.cluster.local", Kind::A)).len(),
            MAX_ALIASES
        );
    }

    #[test]
    fn reverse_names_of_cluster_addresses_are_answered_others_forwarded() {
        let t = table();
        assert_eq!(
            reverse_name("10.96.0.20".parse().unwrap()),
            "20.0.96.10.in-addr.arpa."
        );
        assert_eq!(
            records(t.answer("20.0.96.10.in-addr.arpa", Kind::Ptr)),
            [(
                "20.0.96.10.in-addr.arpa.".into(),
                Rdata::Ptr("web.default.svc.cluster.local.".into())
            )]
        );
        assert_eq!(
            t.answer("20.0.96.10.in-addr.arpa", Kind::A),
            Answer::Records(vec![])
        );
        assert_eq!(
            t.answer("21.0.96.10.in-addr.arpa", Kind::Ptr),
            Answer::Forward
        );
        assert_eq!(t.answer("0.96.10.in-addr.arpa", Kind::Ptr), Answer::Forward);
    }
}
