//! The fixtures tested for what the rest of orc relies on: etcd really stores
//! data, a namespace is really isolated and really gone after drop, and many
//! fixtures coexist.

use std::path::Path;

use orc_testkit::{Etcd, NetnsHost, require_root};

#[tokio::test]
async fn etcd_round_trips_a_key_through_etcd_client() {
    let etcd = Etcd::start();
    let mut client = etcd_client::Client::connect([etcd.endpoint()], None)
        .await
        .expect("connect to the fixture's etcd");
    client.put("/orc/test", "hello", None).await.expect("put");
    let response = client.get("/orc/test", None).await.expect("get");
    let values: Vec<&[u8]> = response.kvs().iter().map(|kv| kv.value()).collect();
    assert_eq!(values, vec![b"hello".as_slice()]);
}

#[test]
fn etcd_process_and_data_are_gone_after_drop() {
    let etcd = Etcd::start();
    let pid = etcd.pid();
    let data = etcd.data_dir();
    assert!(data.exists(), "etcd should have created {data:?}");
    drop(etcd);
    assert!(!data.exists(), "{data:?} should be removed on drop");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| !stat.contains("etcd")),
        "etcd (pid {pid}) should be gone after drop"
    );
}

#[test]
fn many_etcds_start_in_parallel_on_distinct_ports() {
    let etcds: Vec<Etcd> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6).map(|_| scope.spawn(Etcd::start)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ports: Vec<u16> = etcds.iter().map(Etcd::port).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), etcds.len(), "every etcd needs its own port");
}

#[test]
fn netns_has_only_loopback_and_is_gone_after_drop() {
    require_root();
    let host = NetnsHost::new();
    let name = host.name().to_string();
    let links = host.run("ip", &["-o", "link", "show"]);
    let names: Vec<&str> = links
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .collect();
    assert_eq!(names, vec!["lo"], "a fresh namespace holds only loopback");
    assert!(links.contains("UP"), "loopback should be up: {links}");
    assert!(Path::new(&format!("/run/netns/{name}")).exists());
    drop(host);
    assert!(!Path::new(&format!("/run/netns/{name}")).exists());
}

#[test]
fn enter_runs_code_inside_the_namespace_only() {
    require_root();
    let host = NetnsHost::new();
    let inside = host.enter(|| std::fs::read_link("/proc/thread-self/ns/net").unwrap());
    let outside = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    assert_ne!(
        inside, outside,
        "enter should switch the thread's namespace"
    );
    let expected = std::fs::metadata(host.path()).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.ino()
    });
    assert_eq!(
        inside.to_string_lossy(),
        format!("net:[{}]", expected.unwrap()),
        "the thread should be in the fixture's namespace"
    );
}

#[test]
fn many_namespaces_coexist_without_collisions() {
    require_root();
    let hosts: Vec<NetnsHost> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16).map(|_| scope.spawn(NetnsHost::new)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut names: Vec<&str> = hosts.iter().map(NetnsHost::name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 16);
    let list = String::from_utf8(
        std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for name in &names {
        assert!(list.contains(name), "{name} missing from `ip netns list`");
    }
}
