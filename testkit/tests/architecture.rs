//! ARCHITECTURE.md's dependency rules hold on this workspace, and each rule
//! catches the backwards dependency it exists for.

use std::path::Path;

use orc_testkit::architecture::{Workspace, read, violations};

fn workspace() -> Workspace {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().expect("the workspace root exists");
    read(&root).expect("cargo metadata reads the workspace")
}

fn plant(
    workspace: &mut Workspace,
    krate: &str,
    plant: impl FnOnce(&mut orc_testkit::architecture::Crate),
) {
    plant(
        workspace
            .get_mut(krate)
            .unwrap_or_else(|| panic!("{krate} is in the workspace")),
    );
}

#[test]
fn the_workspace_keeps_every_rule() {
    let workspace = workspace();
    // The rules look at what they should: the chapters are known.
    assert_eq!(workspace["orc-container"].chapter, Some(1));
    assert_eq!(workspace["orc-client"].chapter, Some(3));
    assert_eq!(workspace["orc"].chapter, Some(8));
    assert!(
        workspace["orc-controllers"]
            .depends_on
            .contains("orc-client")
    );
    assert_eq!(violations(&workspace), Vec::<String>::new());
}

#[test]
fn a_chapter_depending_on_a_later_one_is_caught() {
    let mut workspace = workspace();
    plant(&mut workspace, "orc-pod", |c| {
        c.depends_on.insert("orc-scheduler".into());
    });
    let broken = violations(&workspace);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].starts_with("orc-pod (chapter 02) depends on orc-scheduler (chapter 04)"));
}

#[test]
fn a_component_linking_the_server_is_caught() {
    let mut workspace = workspace();
    plant(&mut workspace, "orc-controllers", |c| {
        c.depends_on.insert("orc-apiserver".into());
    });
    let broken = violations(&workspace);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].contains("orc-controllers depends on orc-apiserver"));
}

#[test]
fn the_server_linking_node_code_is_caught_even_in_its_tests() {
    let mut workspace = workspace();
    plant(&mut workspace, "orc-apiserver", |c| {
        c.dev_depends_on.insert("orc-pod".into());
    });
    let broken = violations(&workspace);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].starts_with("orc-apiserver links orc-pod"));
}

#[test]
fn a_client_linking_a_server_part_is_caught() {
    let mut workspace = workspace();
    plant(&mut workspace, "orc-client", |c| {
        c.links.insert("etcd-client".into());
    });
    let broken = violations(&workspace);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].starts_with("orc-client links etcd-client"));
}

#[test]
fn a_client_depending_on_a_tls_server_is_caught() {
    let mut workspace = workspace();
    // Through reqwest's connector it is allowed, and already there.
    assert!(workspace["orc-client"].links.contains("tokio-rustls"));
    assert!(violations(&workspace).is_empty());
    plant(&mut workspace, "orc-client", |c| {
        c.depends_on.insert("tokio-rustls".into());
    });
    let broken = violations(&workspace);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].starts_with("orc-client depends on tokio-rustls"));
}
