//! From a recipe to an image in the node's store.
//!
//! Two layers, as a Dockerfile `FROM busybox` + `COPY` would make:
//!
//! 1. the base: busybox (the host's static binary and its applet links)
//!    or scratch (only the directories the runtime mounts over);
//! 2. the app: each program *with every shared library it loads*, then the
//!    recipe's files.
//!
//! Why the libraries must travel: a dynamically linked program such as
//! `/usr/bin/node` is not runnable on its own. The kernel reads its ELF
//! header, finds the `PT_INTERP` segment naming the dynamic loader
//! (`/lib64/ld-linux-x86-64.so.2`), and runs *that*; the loader then opens
//! every `DT_NEEDED` library (`libstdc++.so.6`, `libc.so.6`, ...) by
//! searching its directories. Inside a container those paths are looked up
//! in the image's root, not the host's: a program copied alone fails with
//! "no such file or directory", about a loader the user never named. So
//! the build asks the loader itself which files it would open (`ldd` is
//! the loader run with `--list`; chapter 01's
//! [`build::shared_libraries`]) and copies each to the path the loader
//! will ask for, reading through the host's symlinks.
//!
//! Then the config (entrypoint, cmd, env, workdir, exposed ports), an OCI
//! layout in the store's scratch space, and chapter 01's import, the same
//! code `orc-container image import` runs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use orc_container::image::build::{self, LayerBuilder};
use orc_container::image::manifest::RunConfig;
use orc_container::image::{Digest, ImageError, Reference, Store, oci_layout};

use super::recipe::{Base, Recipe};

/// Where a recipe's program lives here, and where it lands in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub host: PathBuf,
    pub in_image: String,
}

/// Builds `recipe` into `store`, tagged with its name and every `also`
/// name. `files_dir` is where `from:` files are read (the recipe's
/// directory; `None` for a built-in recipe, whose files are inline).
/// Returns the image's manifest digest.
// ANCHOR: build
pub fn build(
    recipe: &Recipe,
    files_dir: Option<&Path>,
    store: &Store,
) -> Result<Digest, ImageError> {
    let fail = |problem: String| ImageError::Recipe {
        image: recipe.name.clone(),
        problem,
    };
    let base = base_layer(recipe.base)?;
    let app = app_layer(recipe, files_dir).map_err(fail)?;
    // An OCI layout in the store's own scratch space (same file system, so
    // the import moves nothing across disks), imported, then removed.
    let layout =
        store
            .root()
            .join("tmp")
            .join(format!("recipe-{}-{}", std::process::id(), unique()));
    let _ = std::fs::remove_dir_all(&layout);
    let result = build::write_image(&layout, &recipe.name, &[base, app], run_config(recipe))
        .and_then(|_| oci_layout::import(store, &layout, Some(&recipe.name)));
    let _ = std::fs::remove_dir_all(&layout);
    let (_, digest) = result?.pop().expect("one image imported");
    for name in &recipe.also {
        store.tag(&Reference::parse(name)?, &digest)?;
    }
    Ok(digest)
}
// ANCHOR_END: build

/// A number no other build of this process uses, for scratch directories.
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn base_layer(base: Base) -> Result<Vec<u8>, ImageError> {
    match base {
        Base::Busybox => build::busybox_layer(Path::new("/bin/busybox")),
        Base::Scratch => {
            let mut layer = LayerBuilder::new();
            build::base_layer(&mut layer);
            Ok(layer.finish())
        }
    }
}

/// The programs with their libraries, then the files. A path written twice
/// (two programs sharing `libc.so.6`) is written once.
// ANCHOR: app_layer
fn app_layer(recipe: &Recipe, files_dir: Option<&Path>) -> Result<Vec<u8>, String> {
    let mut layer = LayerBuilder::new();
    let mut written = BTreeSet::new();
    for name in &recipe.programs {
        let program = find_program(name)?;
        // The program itself, at the path the entrypoint names...
        copy_in(&mut layer, &mut written, &program.host, &program.in_image)?;
        // ...and what the loader opens to run it, at the paths it opens.
        let libraries = build::shared_libraries(&program.host).map_err(|e| e.to_string())?;
        for library in libraries {
            let path = library.display().to_string();
            copy_in(&mut layer, &mut written, &library, &path)?;
        }
    }
    for file in &recipe.files {
        let content = match (&file.content, &file.from, files_dir) {
            (Some(text), _, _) => text.clone().into_bytes(),
            (None, Some(from), Some(dir)) => {
                let path = dir.join(from);
                std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?
            }
            (None, _, _) => {
                return Err(format!(
                    "{}: a built-in recipe has its files inline",
                    file.path
                ));
            }
        };
        let mode = if file.executable { 0o755 } else { 0o644 };
        layer.file(&file.path, &content, mode);
    }
    Ok(layer.finish())
}
// ANCHOR_END: app_layer

/// Adds the host file `host` (read through symlinks) at `in_image`.
fn copy_in(
    layer: &mut LayerBuilder,
    written: &mut BTreeSet<String>,
    host: &Path,
    in_image: &str,
) -> Result<(), String> {
    if written.insert(in_image.to_string()) {
        let bytes = std::fs::read(host).map_err(|e| format!("reading {}: {e}", host.display()))?;
        layer.file(in_image, &bytes, 0o755);
    }
    Ok(())
}

/// Finds a recipe's program on this host: an absolute path as is (it
/// lands at the same path); a bare name beside the running `orc` (where
/// `cargo build` and `cargo install` put `orc-echoserver`), then on
/// `PATH` (it lands in `/usr/local/bin`).
pub fn find_program(name: &str) -> Result<Program, String> {
    if name.starts_with('/') {
        return match Path::new(name).is_file() {
            true => Ok(Program {
                host: name.into(),
                in_image: name.into(),
            }),
            false => Err(format!(
                "program {name} is not on this machine: {}",
                install_hint(name)
            )),
        };
    }
    let beside_orc = std::env::current_exe()
        .ok()
        .and_then(|me| me.parent().map(Path::to_path_buf));
    let path = std::env::var_os("PATH").unwrap_or_default();
    beside_orc
        .into_iter()
        .chain(std::env::split_paths(&path))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .map(|host| Program {
            host,
            in_image: format!("/usr/local/bin/{name}"),
        })
        .ok_or_else(|| {
            format!(
                "program `{name}` is neither beside the orc binary nor on PATH: {}",
                install_hint(name)
            )
        })
}

/// What to do about a missing program the shipped recipes use.
fn install_hint(name: &str) -> &'static str {
    match name.rsplit('/').next() {
        Some("node") => "install Node.js (`apt-get install nodejs`, as scripts/setup.sh does)",
        Some("orc-echoserver" | "orc-guestbook") => {
            "build it with orc (`cargo build -p orc` builds it beside orc)"
        }
        Some("redis-server") => {
            "install Redis (`apt-get install redis-server`, as scripts/setup.sh does)"
        }
        _ => "install it, or change the recipe's `programs`",
    }
}

/// The image's config: how the runtime will start it.
fn run_config(recipe: &Recipe) -> RunConfig {
    let mut env = vec![build::DEFAULT_PATH.to_string()];
    env.extend(recipe.env.iter().map(|(k, v)| format!("{k}={v}")));
    RunConfig {
        env,
        entrypoint: recipe.entrypoint.clone(),
        cmd: recipe.cmd.clone(),
        working_dir: recipe.workdir.clone().unwrap_or_default(),
        exposed_ports: recipe
            .expose
            .iter()
            .map(|p| (format!("{p}/tcp"), serde_json::json!({})))
            .collect(),
        ..RunConfig::default()
    }
}
