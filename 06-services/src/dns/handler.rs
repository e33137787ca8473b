//! The DNS server's side of orc-dns: hickory-server parses each question
//! and calls [`ClusterDns::handle_request`], which answers from the name
//! table ([`Records`]) or forwards ([`Upstream`]), and writes the answer.
//! This file only translates between hickory's types and the table's.

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
/// question holds the read lock only to clone the `Arc`, so a rebuild
/// never waits for lookups nor a lookup for a rebuild. A std lock: it is
/// never held across an `.await`.
pub type SharedRecords = Arc<RwLock<Arc<Records>>>;

/// orc-dns' request handler.
pub struct ClusterDns {
    pub records: SharedRecords,
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
        let table = self
            .records
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        // A negative answer for a name of the zone carries the zone's SOA
        // in its authority section (RFC 2308), as CoreDNS' does.
        let soa = || to_hickory(&table.soa());
        match table.answer(&name, kind(info.query.query_type())) {
            Answer::Records(records) => {
                metadata.authoritative = true;
                let answers: Vec<HickoryRecord> = records.iter().filter_map(to_hickory).collect();
                let nodata = answers.is_empty() && table.in_zone(&absolute(&name));
                let authority = if nodata { soa() } else { None };
                let message = builder.build(metadata, answers.iter(), None, authority.iter(), None);
                send(&mut response, message, &request.metadata).await
            }
            Answer::NoSuchName => {
                metadata.authoritative = true;
                metadata.response_code = ResponseCode::NXDomain;
                let authority = soa();
                let message = builder.build(metadata, None, None, authority.iter(), None);
                send(&mut response, message, &request.metadata).await
            }
            Answer::Forward => match self
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
