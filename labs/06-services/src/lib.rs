//! # Lab 06: services
//!
//! Chapter 06 turns a Service into rules and names: the endpoint
//! controller cuts its pods into EndpointSlices, orc-proxy renders each
//! Service port as iptables chains that pick one ready endpoint at
//! random, and orc-dns answers the Service's name. Each of those
//! decisions is a pure function; in this lab you write five of them.
//!
//! Your work goes in `src/student.rs`:
//!
//! 1. [`probability`]: the `--probability` of endpoint `i` of `n`, so
//!    that the chain picks each one with the same chance.
//! 2. [`usable`]: which endpoints get new connections (ready ones, or,
//!    when there are none, terminating ones that still serve).
//! 3. [`pick_rules`]: a Service chain's rules: session affinity, then
//!    the random choice (snapshot-tested).
//! 4. [`slice_plan`]: a Service's backends cut into EndpointSlices of at
//!    most 100, moving as few endpoints as possible.
//! 5. [`records`]: the cluster's DNS names from its Services, slices and
//!    pods (A, PTR, SRV, CNAME, headless names).
//!
//! The walkthrough (`tests/scenario.rs`) renders three Services with
//! orc's own functions into the `iptables-restore` payload orc-proxy
//! applies, and asks orc's DNS table about them. `cargo lab 06` shows
//! which tasks pass; `cargo lab 06 --solution` runs the same tests
//! against orc's own code.

// The types are orc's: the lab is about the functions, not the data.
pub use orc_services::dns::build::dashed;
pub use orc_services::dns::records::{Answer, Kind, Rdata, Record, Records, absolute};
pub use orc_services::endpoints::backends::{Backend, BackendPort};
pub use orc_services::endpoints::slices::{
    MAX_ENDPOINTS_PER_SLICE, SlicePlan, endpoint_json, labels, new_slice, owner, ports_json,
};
pub use orc_services::proxy::chains::endpoint_chain;
pub use orc_services::proxy::model::{Endpoint, ServicePort};

#[cfg(not(feature = "solution"))]
mod student;
#[cfg(not(feature = "solution"))]
pub use student::{pick_rules, probability, records, slice_plan, usable};

#[cfg(feature = "solution")]
pub use orc_services::dns::build::records;
#[cfg(feature = "solution")]
pub use orc_services::endpoints::slices::plan as slice_plan;
#[cfg(feature = "solution")]
pub use orc_services::proxy::chains::probability;
#[cfg(feature = "solution")]
pub use orc_services::proxy::render::{pick_rules, usable};
