//! Your code for lab 06. Replace each `todo!()`; `cargo lab 06` tells you
//! which tasks pass. The doc comments say what orc's version does; chapter
//! 06 explains why.

// The parameters, and the imports you will need, are unused until you
// write the bodies.
#![allow(unused_variables, unused_imports)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use crate::{
    Backend, Endpoint, MAX_ENDPOINTS_PER_SLICE, Rdata, Records, ServicePort, SlicePlan, absolute,
    dashed, endpoint_chain, endpoint_json, labels, new_slice, owner, ports_json,
};

/// Task 1. The probability the rule for endpoint `i` (counting from 0) of
/// `n` matches with, so that every endpoint is picked with the same
/// chance 1/n: the first rule sees every packet, the second only those
/// the first let through, and so on; the last takes all that is left.
/// Written with ten decimals, as kube-proxy writes it: `0.3333333333`.
pub fn probability(i: usize, n: usize) -> String {
    todo!()
}

/// Task 2. The endpoints new connections may go to, in the order given:
/// the `ready` ones; if none is ready, those that are `serving` and
/// `terminating` (a pod on its way out that still passes its readiness
/// probe, so a rolling restart of the last pod drops nothing: Kubernetes'
/// `ProxyTerminatingEndpoints`); else none.
pub fn usable(endpoints: &[&Endpoint]) -> Vec<Endpoint> {
    todo!()
}

/// Task 3. The rules of the Service chain `chain` that send a new
/// connection for `sp` to one of `endpoints`. With `name` =
/// `sp.name_string()`, `sep(e)` = `endpoint_chain(&name, &sp.protocol,
/// &e.address())` and `comment(e)` = `"<name> -> <e.address()>"` (with the
/// double quotes):
///
/// 1. with `sp.affinity_seconds = Some(s)`, first one rule per endpoint
///    sending a client the `recent` module saw within `s` seconds back
///    to the endpoint it had:
///    `-A <chain> -m comment --comment <comment(e)> -m recent --name <sep(e)> --rcheck --seconds <s> --reap -j <sep(e)>`
/// 2. then one rule per endpoint `i` of `n`, all but the last matching at
///    random with [`probability`]`(i, n)`:
///    `-A <chain> -m comment --comment <comment(e)> -m statistic --mode random --probability <p> -j <sep(e)>`
/// 3. and the last without a test:
///    `-A <chain> -m comment --comment <comment(e)> -j <sep(e)>`
pub fn pick_rules(sp: &ServicePort, chain: &str, endpoints: &[Endpoint]) -> Vec<String> {
    todo!()
}

/// Task 4. The writes that make `existing` (the stored slices of `svc`)
/// hold exactly `backends`, at most [`MAX_ENDPOINTS_PER_SLICE`] endpoints
/// a slice, moving as few endpoints as possible (Kubernetes' reconciler):
///
/// 1. Group the wanted endpoints ([`endpoint_json`]) by their ports
///    ([`ports_json`] of `backend.ports`): a slice holds one set of ports.
///    With no backends at all, the wanted groups are one group with ports
///    `[]` and no endpoints.
/// 2. Visit the stored slices by name. A slice whose `ports` (missing:
///    `[]`) are no wanted group's is deleted. Otherwise it keeps those of
///    its endpoints (matched by `addresses[0]`) that are still wanted
///    with its ports, in their new form, and those are no longer
///    waiting to be placed.
/// 3. Per group, the endpoints not placed yet fill the kept slices of
///    that group that have room (in name order), then go into new
///    slices ([`new_slice`]) of at most 100.
/// 4. A kept slice left empty is deleted, except one (the first) when
///    there are no backends at all: an empty *placeholder* slice says
///    the Service exists and has none. If no stored slice could be the
///    placeholder, create one. Every other kept slice goes in `update`,
///    its endpoints sorted by address, its `labels` ([`labels`]) and
///    `ownerReferences` ([`owner`]) refreshed, `addressType` `IPv4`.
///
/// Endpoints inside every slice are sorted by address (numerically).
pub fn slice_plan(svc: &Value, backends: &[Backend], existing: &[Value]) -> SlicePlan {
    todo!()
}

/// Task 5. The cluster's DNS names under `zone` (`cluster.local`), built
/// with [`Records::new`], [`Records::add`] and [`Records::add_reverse`];
/// `fqdn` is `<name>.<namespace>.svc.<zone>`. Per Service:
///
/// - `type: ExternalName`: a CNAME from `fqdn` to `spec.externalName`
///   ([`absolute`]), nothing else;
/// - a cluster IP (`spec.clusterIP` an IPv4 address): an A record, a
///   reverse name (`add_reverse(ip, fqdn)`), and for each *named* port an
///   SRV at `_<port name>._<protocol, lower case>.<fqdn>` with priority 0,
///   weight 100, the Service's port and `fqdn` as target;
/// - headless (`clusterIP: None`): for each endpoint of its slices
///   (slices labelled `kubernetes.io/service-name: <name>` in the same
///   namespace, `addressType: IPv4`) that is ready (`conditions.ready`,
///   unset counts as ready) or every endpoint when the Service has
///   `publishNotReadyAddresses: true`: an A record at `fqdn`, an A record
///   at its own name `<host>.<fqdn>` (`host`: the endpoint's `hostname`,
///   else its address [`dashed`]), the reverse name to its own name, and
///   per named Service port an SRV at `_<port>._<proto>.<fqdn>`: priority
///   0, weight `100 / (number of chosen endpoints)` (at least 1), the
///   port the *slice* gives for that name and protocol, its own name
///   (absolute) as target;
/// - no cluster IP yet (`""`): nothing.
///
/// Per pod with a `status.podIP`: an A record at
/// `<dashed ip>.<namespace>.pod.<zone>`.
pub fn records(zone: &str, services: &[Value], slices: &[Value], pods: &[Value]) -> Records {
    todo!()
}
