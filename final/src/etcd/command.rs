//! `orc etcd defrag`: give etcd's free space back to the file system.
//!
//! Compaction (the API server's, every `--etcd-compaction-interval`) frees
//! old revisions *inside* etcd's database file, where new writes reuse
//! the space; the file itself never shrinks. Defragmentation rewrites it
//! with only live data. It blocks the member while it runs, so it is an
//! operator's command (as `etcdctl defrag` is), not something the server
//! does behind everyone's back.
//!
//! It is also the way out of a full etcd (the NOSPACE alarm, when every
//! write is refused): `--compact` first drops all history up to now
//! (watches then re-list, as after any compaction), the defragmentation
//! shrinks the file, and a raised NOSPACE alarm is then disarmed so
//! writes work again.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use etcd_client::{AlarmAction, AlarmOptions, AlarmType};

/// `orc etcd ...`.
#[derive(Subcommand, Debug)]
pub enum EtcdCommand {
    /// Defragment etcd (shrink its file to its live data) and clear a
    /// NOSPACE alarm.
    Defrag(DefragArgs),
}

/// Flags of `orc etcd defrag`.
#[derive(Args, Debug)]
pub struct DefragArgs {
    /// The data directory of the `orc server` whose etcd to defragment.
    #[arg(long, default_value = "/var/lib/orc/server")]
    pub data_dir: PathBuf,
    /// An etcd client URL instead (`http://...` or `unix://...`).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// First compact all history up to the current revision (what a
    /// full etcd needs; watches re-list).
    #[arg(long)]
    pub compact: bool,
}

/// Runs an `orc etcd` command.
pub fn run(command: EtcdCommand) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match command {
        EtcdCommand::Defrag(args) => runtime.block_on(defrag(args)),
    }
}

async fn defrag(args: DefragArgs) -> Result<()> {
    let endpoint = args
        .endpoint
        .unwrap_or_else(|| super::client_endpoint(&args.data_dir));
    let mut etcd = orc_apiserver::etcd_socket::connect(&endpoint)
        .await
        .with_context(|| format!("connecting to etcd at {endpoint}"))?;
    let before = etcd
        .status()
        .await
        .with_context(|| format!("etcd at {endpoint} (is `orc server` running?)"))?;
    if args.compact {
        let revision = before.header().map(|h| h.revision()).unwrap_or(0);
        match etcd.compact(revision, None).await {
            Ok(_) => println!("compacted etcd's history up to revision {revision}"),
            Err(e) if orc_apiserver::storage::is_compacted(&e) => {}
            Err(e) => return Err(e).context("compacting etcd"),
        }
    }
    etcd.defragment().await.context("defragmenting etcd")?;
    let after = etcd.status().await.context("reading etcd's status")?;
    println!(
        "defragmented etcd at {endpoint}: {} bytes → {} bytes",
        before.db_size(),
        after.db_size()
    );
    let alarms = etcd
        .alarm(AlarmAction::Get, AlarmType::None, None)
        .await
        .context("listing etcd's alarms")?;
    for alarm in alarms.alarms() {
        if alarm.alarm() == AlarmType::Nospace {
            let mut member = AlarmOptions::new();
            member.with_member(alarm.member_id());
            etcd.alarm(AlarmAction::Deactivate, AlarmType::Nospace, Some(member))
                .await
                .context("disarming the NOSPACE alarm")?;
            println!("disarmed the NOSPACE alarm: writes are accepted again");
        }
    }
    Ok(())
}
