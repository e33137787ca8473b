//! The DNS server's side of orc-dns: [`local`] decides, for one question,
//! the answer from the name table ([`Records`]) or forwarding
//! ([`Upstream`]). Datagrams reach it through [`super::udp`]; TCP
//! through hickory-server, which calls [`ClusterDns::handle_request`].
//! This file only translates between hickory's types and the table's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::{A, CNAME, PTR, SOA, SRV, TXT};
use hickory_server::proto::rr::{Name, RData, Record as HickoryRecord, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use super::forward::Upstream;
use super::records::{Answer, Kind, Rdata, Record, Records, TTL, absolute};

/// The current name table, swapped whole when the cluster changes: a
/// reader holds the lock only to clone the `Arc`, so a rebuild never
/// waits for lookups nor a lookup for a rebuild. A std lock: it is never
/// held across an `.await`.
///
/// Each swap also bumps a version number. The UDP threads keep their own
/// `Arc` of the table and take a new one only when the version moved: a
/// question then reads one number nobody writes, where taking the lock
/// and the `Arc` would make the threads write the same cache lines for
/// every question.
#[derive(Debug)]
pub struct SharedRecords {
    table: RwLock<Arc<Records>>,
    version: AtomicU64,
}

impl SharedRecords {
    /// Shares `table`.
    pub fn new(table: Records) -> Arc<SharedRecords> {
        Arc::new(SharedRecords {
            table: RwLock::new(Arc::new(table)),
            version: AtomicU64::new(0),
        })
    }

    /// The table as it is now.
    pub fn get(&self) -> Arc<Records> {
        self.table.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Swaps `table` in.
    pub fn set(&self, table: Records) {
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
        self.version.fetch_add(1, Ordering::Release);
    }

    /// How many times the table was swapped.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

/// orc-dns' request handler.
#[derive(Clone)]
pub struct ClusterDns {
    pub records: Arc<SharedRecords>,
    pub upstream: Upstream,
}

/// The table's kind for a question's type.
pub fn kind(query_type: RecordType) -> Kind {
    match query_type {
        RecordType::A => Kind::A,
        RecordType::CNAME => Kind::Cname,
        RecordType::SRV => Kind::Srv,
        RecordType::PTR => Kind::Ptr,
        RecordType::TXT => Kind::Txt,
        RecordType::SOA => Kind::Soa,
        _ => Kind::Other,
    }
}

/// A table record as a hickory record; `None` for a name that does not
/// parse (a Service's external name with a bad character).
fn to_hickory(record: &Record) -> Option<HickoryRecord> {
    let name = |n: &str| Name::from_ascii(n).ok();
    let data = match &record.data {
        Rdata::A(ip) => RData::A(A(*ip)),
        Rdata::Cname(target) => RData::CNAME(CNAME(name(target)?)),
        Rdata::Ptr(target) => RData::PTR(PTR(name(target)?)),
        Rdata::Txt(text) => RData::TXT(TXT::new(vec![text.clone()])),
        Rdata::Srv {
            priority,
            weight,
            port,
            target,
        } => RData::SRV(SRV::new(*priority, *weight, *port, name(target)?)),
        // Refresh, retry and expire matter only to secondary servers,
        // which orc has none of; the values are CoreDNS'. The minimum is
        // how long a resolver caches a negative answer.
        Rdata::Soa {
            mname,
            rname,
            serial,
        } => RData::SOA(SOA::new(
            name(mname)?,
            name(rname)?,
            *serial,
            7200,
            1800,
            86400,
            TTL,
        )),
    };
    Some(HickoryRecord::from_rdata(name(&record.name)?, TTL, data))
}

// ANCHOR: local
/// An answer from the cluster's own names: the response code, the
/// answers, and the authority section (the zone's SOA for a negative
/// answer, RFC 2308).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub code: ResponseCode,
    pub answers: Vec<HickoryRecord>,
    pub authority: Vec<HickoryRecord>,
}

/// What orc-dns does with a question: answer it from the table (as the
/// zone's authority), or forward it upstream.
#[derive(Debug, Clone, PartialEq)]
pub enum Local {
    Answer(Reply),
    Forward,
}

/// The decision for a question about `name` of type `query_type`, the
/// one both transports share (hickory-server's handler for TCP and
/// forwarded questions, [`super::udp`] for datagrams).
pub fn local(table: &Records, name: &str, query_type: RecordType) -> Local {
    let soa = || to_hickory(&table.soa()).into_iter().collect::<Vec<_>>();
    match table.answer(name, kind(query_type)) {
        Answer::Records(records) => {
            let answers: Vec<HickoryRecord> = records.iter().filter_map(to_hickory).collect();
            let nodata = answers.is_empty() && table.in_zone(&absolute(name));
            Local::Answer(Reply {
                code: ResponseCode::NoError,
                answers,
                authority: if nodata { soa() } else { Vec::new() },
            })
        }
        Answer::NoSuchName => Local::Answer(Reply {
            code: ResponseCode::NXDomain,
            answers: Vec::new(),
            authority: soa(),
        }),
        Answer::Forward => Local::Forward,
    }
}
// ANCHOR_END: local

impl ClusterDns {
    /// The table as it is now.
    pub fn table(&self) -> Arc<Records> {
        self.records.get()
    }
}

#[async_trait::async_trait]
impl RequestHandler for ClusterDns {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let builder = MessageResponseBuilder::from_message_request(request);
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.recursion_available = true;
        let Ok(info) = request.request_info() else {
            // Not exactly one question: nothing a stub resolver sends.
            let message = builder.error_msg(&request.metadata, ResponseCode::FormErr);
            return send(&mut response, message, &request.metadata).await;
        };
        let name = info.query.name().to_string();
        let table = self.table();
        match local(&table, &name, info.query.query_type()) {
            Local::Answer(reply) => {
                metadata.authoritative = true;
                metadata.response_code = reply.code;
                let message = builder.build(
                    metadata,
                    reply.answers.iter(),
                    None,
                    reply.authority.iter(),
                    None,
                );
                send(&mut response, message, &request.metadata).await
            }
            Local::Forward => match self
                .upstream
                .forward(request.as_slice(), request.metadata.id)
                .await
            {
                Ok(upstream) => {
                    metadata.response_code = upstream.metadata.response_code;
                    let message = builder.build(
                        metadata,
                        upstream.answers.iter(),
                        upstream.authorities.iter(),
                        None,
                        upstream.additionals.iter(),
                    );
                    send(&mut response, message, &request.metadata).await
                }
                Err(error) => {
                    tracing::debug!(%name, %error, "forwarding failed: SERVFAIL");
                    let message = builder.error_msg(&request.metadata, ResponseCode::ServFail);
                    send(&mut response, message, &request.metadata).await
                }
            },
        }
    }
}

/// Writes `message`; a client that went away is logged, and the answer
/// reported as a SERVFAIL for hickory's bookkeeping.
async fn send<'a, R: ResponseHandler>(
    response: &mut R,
    message: hickory_server::zone_handler::MessageResponse<
        '_,
        'a,
        impl Iterator<Item = &'a HickoryRecord> + Send + 'a,
        impl Iterator<Item = &'a HickoryRecord> + Send + 'a,
        impl Iterator<Item = &'a HickoryRecord> + Send + 'a,
        impl Iterator<Item = &'a HickoryRecord> + Send + 'a,
    >,
    request: &Metadata,
) -> ResponseInfo {
    match response.send_response(message).await {
        Ok(info) => info,
        Err(error) => {
            tracing::debug!(%error, "sending a DNS answer failed");
            let mut metadata = Metadata::response_from_request(request);
            metadata.response_code = ResponseCode::ServFail;
            hickory_server::proto::op::Header {
                metadata,
                counts: Default::default(),
            }
            .into()
        }
    }
}
