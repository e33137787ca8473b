//! Chapter 01 in the demo: one container from a busybox root filesystem,
//! run by orc's runtime in this very process.

use std::path::Path;

use anyhow::{Context, Result, bail};
use orc_container::spec::{MemoryLimits, PidsLimit, Resources};
use orc_container::{Runtime, Spec};

use super::{heading, show_command};

/// What the container prints about itself; written into the rootfs as
/// `/look-around.sh`, so `ps` shows a short command line.
const LOOK_AROUND: &str = r#"echo "I am pid $$ on host $(hostname), and I see these processes:"
ps
echo "My root directory holds: $(ls / | tr '\n' ' ')"
echo "Writing to / gives: $(touch /probe 2>&1)"
"#;

pub fn run(dir: &Path) -> Result<()> {
    heading("Chapter 01: a container from kernel parts");
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    orc_container::busybox::rootfs(&rootfs)
        .context("building the demo's busybox root filesystem")?;
    std::fs::write(rootfs.join("look-around.sh"), LOOK_AROUND)?;
    let id = format!("orc-demo-{}", std::process::id());
    let mut spec = Spec::example(&["sh", "/look-around.sh"]);
    spec.hostname = Some("orc-demo".into());
    let linux = spec.linux.get_or_insert_with(Default::default);
    // Directly under the root: `delete` removes it, and no parent is left.
    linux.cgroups_path = Some(format!("/{id}"));
    linux.resources = Some(Resources {
        memory: Some(MemoryLimits {
            limit: Some(64 << 20),
            swap: None,
        }),
        pids: Some(PidsLimit { limit: 32 }),
        ..Resources::default()
    });
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_string_pretty(&spec)?,
    )?;
    println!(
        "A bundle in {}: a busybox rootfs and a config.json asking for new\n\
         pid, mount, uts, ipc and network namespaces, a read-only root, 64 MiB of\n\
         memory and at most 32 processes.\n",
        bundle.display()
    );
    show_command(&format!(
        "orc runtime run {id} --bundle {}",
        bundle.display()
    ));
    let runtime = Runtime::new(dir.join("runtime"));
    let code = runtime
        .run(&id, &bundle)
        .context("running the demo container")?;
    if code != 0 {
        bail!("the demo container exited with {code}");
    }
    Ok(())
}
