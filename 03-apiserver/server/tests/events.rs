//! Events folded by several writers at once: orc-client's `Recorder`
//! raises an event's count with a compare-and-swap, so concurrent
//! recorders of the same event neither lose a count nor make a second
//! object.

mod common;

use std::sync::Arc;

use common::{TestServer, pod};
use orc_client::Client;
use orc_client::events::{MAX_TRIES, Note, Recorder};
use orc_client::resources::lookup;
use serde_json::Value;

/// How many writers record the same event at once: no more than a
/// recorder's tries, since each lost race is another writer's success.
const WRITERS: usize = 10;
const _: () = assert!(WRITERS <= MAX_TRIES);

/// The events about the pod named `name`, as `kubectl describe` finds them.
async fn events_about(client: &Client, name: &str) -> Vec<Value> {
    let events = lookup("", "v1", "events").unwrap();
    let list = client.list(events, Some("default"), "").await.unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["name"] == name)
        .cloned()
        .collect()
}

async fn created_pod(client: &Client, name: &str) -> Value {
    let pods = lookup("", "v1", "pods").unwrap();
    client
        .create(pods, Some("default"), &pod(name))
        .await
        .unwrap()
}

fn back_off() -> Note {
    Note::warning("BackOff", "Back-off restarting failed container".into())
}

#[tokio::test]
async fn concurrent_recorders_of_one_event_count_every_write_on_one_object() {
    let s = TestServer::start().await;
    let client = Client::new(format!("http://{}", s.addr));
    let web = created_pod(&client, "web").await;

    // Each writer its own recorder: no shared memory, as two processes.
    let mut writers = tokio::task::JoinSet::new();
    for _ in 0..WRITERS {
        let recorder = Recorder::on_host(client.clone(), "kubelet", "node-1");
        let web = web.clone();
        writers.spawn(async move {
            recorder
                .record_about(
                    &web,
                    ("v1", "Pod"),
                    Some("spec.containers{main}"),
                    back_off(),
                )
                .await;
        });
    }
    writers.join_all().await;

    let events = events_about(&client, "web").await;
    assert_eq!(events.len(), 1, "one event for one key: {events:#?}");
    assert_eq!(events[0]["count"], WRITERS as u64, "{:#?}", events[0]);
    assert_eq!(events[0]["reason"], "BackOff");
    assert_eq!(
        events[0]["involvedObject"]["fieldPath"],
        "spec.containers{main}"
    );
}

#[tokio::test]
async fn one_recorder_called_at_once_from_many_tasks_counts_every_call() {
    let s = TestServer::start().await;
    let client = Client::new(format!("http://{}", s.addr));
    let web = created_pod(&client, "web").await;
    let recorder = Arc::new(Recorder::new(client.clone(), "default-scheduler"));

    // As the kubelet does: pod tasks share one recorder and do not wait
    // for each other. One first event, then the rest at once, so most
    // start from the recorder's memory of it.
    recorder.record(&web, ("v1", "Pod"), back_off()).await;
    let mut writers = tokio::task::JoinSet::new();
    for _ in 1..WRITERS {
        let (recorder, web) = (recorder.clone(), web.clone());
        writers.spawn(async move { recorder.record(&web, ("v1", "Pod"), back_off()).await });
    }
    writers.join_all().await;

    let events = events_about(&client, "web").await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["count"], WRITERS as u64, "{:#?}", events[0]);

    // Another reason about the same pod is another event.
    let other = Note::warning("FailedMount", "no such volume".into());
    recorder.record(&web, ("v1", "Pod"), other).await;
    assert_eq!(events_about(&client, "web").await.len(), 2);
}

#[tokio::test]
async fn an_event_deleted_between_repeats_is_written_afresh() {
    let s = TestServer::start().await;
    let client = Client::new(format!("http://{}", s.addr));
    let web = created_pod(&client, "web").await;
    let recorder = Recorder::new(client.clone(), "default-scheduler");
    recorder.record(&web, ("v1", "Pod"), back_off()).await;
    recorder.record(&web, ("v1", "Pod"), back_off()).await;
    let events = events_about(&client, "web").await;
    assert_eq!(events[0]["count"], 2);

    // Events expire (the API server's --event-ttl): the recorder's
    // memory then names a missing object, and the next repeat starts over.
    let resource = lookup("", "v1", "events").unwrap();
    let name = events[0]["metadata"]["name"].as_str().unwrap();
    client
        .delete(resource, Some("default"), name)
        .await
        .unwrap();
    recorder.record(&web, ("v1", "Pod"), back_off()).await;
    let events = events_about(&client, "web").await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["count"], 1);
}
