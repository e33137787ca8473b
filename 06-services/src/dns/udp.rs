//! Questions over UDP, answered on threads of their own: a thread per
//! socket (the sockets share one port, a socket per CPU) reads a
//! datagram, answers it from the table and sends the answer, with no task
//! spawned and no channel crossed per question. Nearly every question a
//! pod asks is about a cluster name and answered this way; a question
//! for another name is forwarded on the tokio runtime, which sends its
//! answer when the upstream resolver's comes.
//!
//! hickory-server serves TCP (answers too long for a datagram) with the
//! same decision ([`handler::local`]); on UDP it spawns a task per
//! question and passes each answer through a channel to the socket's own
//! task, which cost more than the rest of the answer together.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use hickory_server::proto::op::{Message, MessageType, Metadata, OpCode, ResponseCode};

use super::handler::{ClusterDns, Local, SharedRecords, local};
use super::records::Records;

/// The largest answer sent over UDP: a client that needs more is told
/// to ask over TCP (the truncation bit). orc-dns does not offer EDNS's
/// larger datagrams, so this is DNS's classic limit.
const MAX_DATAGRAM: usize = 512;

/// How often an idle thread looks whether it should stop.
const POLL: Duration = Duration::from_millis(200);

/// UDP answering threads; dropping this stops them.
pub struct UdpServers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl UdpServers {
    /// Starts a thread per socket answering with `handler`; forwarded
    /// questions run on the current tokio runtime.
    pub fn start(sockets: Vec<UdpSocket>, handler: Arc<ClusterDns>) -> std::io::Result<UdpServers> {
        let runtime = tokio::runtime::Handle::current();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for socket in sockets {
            socket.set_nonblocking(false)?;
            socket.set_read_timeout(Some(POLL))?;
            let (handler, runtime, stop) = (handler.clone(), runtime.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("orc-dns-udp".into())
                    .spawn(move || serve(&Arc::new(socket), &handler, &runtime, &stop))?,
            );
        }
        Ok(UdpServers { stop, threads })
    }
}

impl Drop for UdpServers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn serve(
    socket: &Arc<UdpSocket>,
    handler: &Arc<ClusterDns>,
    runtime: &tokio::runtime::Handle,
    stop: &AtomicBool,
) {
    let mut buffer = [0u8; 4096];
    let mut answers = Answers::new(&handler.records);
    while !stop.load(Ordering::Relaxed) {
        let (length, peer) = match socket.recv_from(&mut buffer) {
            Ok(received) => received,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(error) => {
                tracing::debug!(%error, "receiving a DNS question failed");
                continue;
            }
        };
        let question = &buffer[..length];
        match answers.answer(&handler.records, question) {
            Some(Answered::Now(bytes)) => send(socket, &bytes, peer),
            Some(Answered::Forward(request)) => {
                let (socket, handler, raw) = (socket.clone(), handler.clone(), question.to_vec());
                runtime.spawn(async move {
                    let bytes = forwarded(&handler, &request, &raw).await;
                    // A blocking socket: sent off the async workers.
                    tokio::task::spawn_blocking(move || send(&socket, &bytes, peer));
                });
            }
            None => {}
        }
    }
}

/// The most answers a thread keeps; a full cache is emptied.
const CACHED: usize = 4096;

// ANCHOR: cache
/// One thread's table and the answers it already gave from it.
///
/// An answer from the table depends on nothing but the question's bytes
/// after its id (flags, the name as the client cased it, type, class) and
/// the table: the same bytes asked again get the same answer, id
/// excepted. So each thread keeps the answers it encoded, by those bytes,
/// and a question asked before (pods ask the same few names over and
/// over) is answered by copying them and writing the new id. The cache
/// holds answers from one version of the table only: a swapped table
/// empties it. Forwarded questions are never cached.
struct Answers {
    version: u64,
    table: Arc<Records>,
    cache: HashMap<Vec<u8>, Vec<u8>>,
}

impl Answers {
    fn new(shared: &SharedRecords) -> Answers {
        Answers {
            version: shared.version(),
            table: shared.get(),
            cache: HashMap::new(),
        }
    }

    fn answer(&mut self, shared: &SharedRecords, question: &[u8]) -> Option<Answered> {
        let version = shared.version();
        if version != self.version {
            *self = Answers {
                version,
                table: shared.get(),
                cache: HashMap::new(),
            };
        }
        let (id, key) = (question.get(..2)?, question.get(2..)?);
        if let Some(cached) = self.cache.get(key) {
            let mut bytes = cached.clone();
            bytes[..2].copy_from_slice(id);
            return Some(Answered::Now(bytes));
        }
        let answered = answer(&self.table, question)?;
        if let Answered::Now(bytes) = &answered
            && bytes.len() >= 2
        {
            if self.cache.len() >= CACHED {
                self.cache.clear();
            }
            self.cache.insert(key.to_vec(), bytes.clone());
        }
        Some(answered)
    }
}
// ANCHOR_END: cache

fn send(socket: &UdpSocket, bytes: &[u8], peer: SocketAddr) {
    if let Err(error) = socket.send_to(bytes, peer) {
        tracing::debug!(%error, %peer, "sending a DNS answer failed");
    }
}

/// What to do with a datagram.
enum Answered {
    /// Send these bytes back.
    Now(Vec<u8>),
    /// Ask upstream about this (parsed) question.
    Forward(Message),
}

/// The answer from `table` to the datagram `question`, or `None` when it
/// deserves none (not a query, or too short to hold a header).
fn answer(table: &Records, question: &[u8]) -> Option<Answered> {
    let request = match Message::from_vec(question) {
        Ok(request) => request,
        Err(_) if question.len() >= 12 => {
            let id = u16::from_be_bytes([question[0], question[1]]);
            return Some(Answered::Now(encode(&Message::error_msg(
                id,
                OpCode::Query,
                ResponseCode::FormErr,
            ))));
        }
        Err(_) => return None,
    };
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut response = response_to(&request);
    if request.metadata.op_code != OpCode::Query {
        response.metadata.response_code = ResponseCode::NotImp;
        return Some(Answered::Now(encode(&response)));
    }
    let [query] = request.queries.as_slice() else {
        // Not exactly one question: nothing a stub resolver sends.
        response.metadata.response_code = ResponseCode::FormErr;
        return Some(Answered::Now(encode(&response)));
    };
    match local(table, &query.name().to_string(), query.query_type()) {
        Local::Answer(reply) => {
            response.metadata.authoritative = true;
            response.metadata.response_code = reply.code;
            response.answers = reply.answers;
            response.authorities = reply.authority;
            Some(Answered::Now(encode(&response)))
        }
        Local::Forward => Some(Answered::Forward(request)),
    }
}

/// The answer upstream gives to `request` (`raw`, as the client sent
/// it), or SERVFAIL.
async fn forwarded(handler: &ClusterDns, request: &Message, raw: &[u8]) -> Vec<u8> {
    let mut response = response_to(request);
    match handler.upstream.forward(raw, request.metadata.id).await {
        Ok(upstream) => {
            response.metadata.response_code = upstream.metadata.response_code;
            response.answers = upstream.answers;
            response.authorities = upstream.authorities;
            response.additionals = upstream.additionals;
        }
        Err(error) => {
            tracing::debug!(%error, "forwarding failed: SERVFAIL");
            response.metadata.response_code = ResponseCode::ServFail;
        }
    }
    encode(&response)
}

/// An empty response to `request`: its id, question and recursion
/// desired, recursion available (orc-dns forwards what is not its own).
fn response_to(request: &Message) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata = Metadata::response_from_request(&request.metadata);
    response.metadata.recursion_available = true;
    response.queries = request.queries.clone();
    response
}

/// `message` on the wire, truncated (question only, TC set) when it
/// does not fit a datagram.
fn encode(message: &Message) -> Vec<u8> {
    match message.to_vec() {
        Ok(bytes) if bytes.len() <= MAX_DATAGRAM => bytes,
        Ok(_) => message.truncate().to_vec().unwrap_or_default(),
        Err(error) => {
            tracing::debug!(%error, "encoding a DNS answer failed");
            let mut failed = response_to(message);
            failed.metadata.response_code = ResponseCode::ServFail;
            failed.to_vec().unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_server::proto::op::Query;
    use hickory_server::proto::rr::rdata::A;
    use hickory_server::proto::rr::{Name, RData, Record, RecordType};
    use serde_json::json;

    use super::super::build;
    use super::*;

    fn handler() -> Records {
        let web = json!({"metadata": {"namespace": "default", "name": "web"},
            "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 80}]}});
        build::records("cluster.local", &[web], &[], &[])
    }

    fn question(name: &str, id: u16) -> Message {
        let mut message = Message::query();
        message.metadata.id = id;
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        message
    }

    fn reply(bytes: Option<Answered>) -> Message {
        match bytes {
            Some(Answered::Now(bytes)) => Message::from_vec(&bytes).unwrap(),
            Some(Answered::Forward(_)) => panic!("forwarded"),
            None => panic!("no answer"),
        }
    }

    #[test]
    fn a_cluster_name_is_answered_at_once_and_others_go_upstream() {
        let handler = handler();
        let asked = question("web.default.svc.cluster.local.", 7);
        let found = reply(answer(&handler, &asked.to_vec().unwrap()));
        assert_eq!(found.metadata.id, 7);
        assert_eq!(found.metadata.message_type, MessageType::Response);
        assert!(found.metadata.authoritative && found.metadata.recursion_desired);
        assert_eq!(found.queries, asked.queries);
        let addresses: Vec<_> = found.answers.iter().map(|r| r.data.clone()).collect();
        assert_eq!(addresses, [RData::A(A(Ipv4Addr::new(10, 96, 0, 20)))]);
        let missing = reply(answer(
            &handler,
            &question("nope.default.svc.cluster.local.", 8)
                .to_vec()
                .unwrap(),
        ));
        assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(missing.authorities.len(), 1, "the zone's SOA");
        let elsewhere = question("example.org.", 9).to_vec().unwrap();
        assert!(matches!(
            answer(&handler, &elsewhere),
            Some(Answered::Forward(_))
        ));
    }

    #[test]
    fn garbage_is_formerr_and_answers_are_not_answered() {
        let handler = handler();
        let formerr = reply(answer(
            &handler,
            &[0x12, 0x34, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 1],
        ));
        assert_eq!(formerr.metadata.id, 0x1234);
        assert_eq!(formerr.metadata.response_code, ResponseCode::FormErr);
        assert!(
            answer(&handler, &[1, 2, 3]).is_none(),
            "shorter than a header"
        );
        let mut response = question("web.default.svc.cluster.local.", 3);
        response.metadata.message_type = MessageType::Response;
        assert!(answer(&handler, &response.to_vec().unwrap()).is_none());
    }

    #[test]
    fn an_answer_too_long_for_a_datagram_is_truncated_to_its_question() {
        let mut long = question("many.default.svc.cluster.local.", 5);
        long.metadata.message_type = MessageType::Response;
        let name = Name::from_ascii("many.default.svc.cluster.local.").unwrap();
        for i in 0..60u8 {
            long.add_answer(Record::from_rdata(
                name.clone(),
                5,
                RData::A(A(Ipv4Addr::new(10, 244, 1, i))),
            ));
        }
        let bytes = encode(&long);
        assert!(bytes.len() <= MAX_DATAGRAM);
        let sent = Message::from_vec(&bytes).unwrap();
        assert!(sent.metadata.truncation, "the client asks again over TCP");
        assert!(sent.answers.is_empty());
        assert_eq!(sent.queries, long.queries);
        assert_eq!(sent.metadata.id, 5);
    }

    #[test]
    fn a_question_asked_again_gets_the_same_answer_with_its_own_id_until_the_table_changes() {
        let shared = SharedRecords::new(handler());
        let mut answers = Answers::new(&shared);
        let name = "web.default.svc.cluster.local.";
        let first = reply(answers.answer(&shared, &question(name, 1).to_vec().unwrap()));
        let again = reply(answers.answer(&shared, &question(name, 2).to_vec().unwrap()));
        assert_eq!(again.metadata.id, 2);
        assert_eq!(again.answers, first.answers);
        assert_eq!(answers.cache.len(), 1, "one question, one cached answer");
        // The Service's address changes: the next answer says so.
        let moved = json!({"metadata": {"namespace": "default", "name": "web"},
            "spec": {"clusterIP": "10.96.0.30", "ports": [{"port": 80}]}});
        shared.set(build::records("cluster.local", &[moved], &[], &[]));
        let after = reply(answers.answer(&shared, &question(name, 3).to_vec().unwrap()));
        assert_eq!(after.metadata.id, 3);
        let addresses: Vec<_> = after.answers.iter().map(|r| r.data.clone()).collect();
        assert_eq!(addresses, [RData::A(A(Ipv4Addr::new(10, 96, 0, 30)))]);
        // Other names go upstream, and are not kept.
        let elsewhere = question("example.org.", 4).to_vec().unwrap();
        assert!(matches!(
            answers.answer(&shared, &elsewhere),
            Some(Answered::Forward(_))
        ));
        assert_eq!(answers.cache.len(), 1);
    }
}
