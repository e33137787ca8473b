//! `orc-container image ...`: the image store's command line.
//!
//! Part of the command line ([`crate::cli`]), kept in the library for the
//! same reason: every binary embedding the runtime shares it. Like the rest
//! of the command line it only parses arguments, calls [`crate::image`],
//! prints, and turns errors into messages (anyhow). It never forks, so it
//! needs no care about threads.

use crate::image::auth::Credentials;
use crate::image::bundle::{self, Overrides};
use crate::image::registry::{self, PullOptions};
use crate::image::{DEFAULT_STORE, Store, build, docker_archive, oci_layout};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ImageArgs {
    /// Directory of the image store.
    #[arg(long, global = true, env = "ORC_IMAGES", default_value = DEFAULT_STORE)]
    images: PathBuf,
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Import an OCI layout (directory or tarball) or a `docker save` tarball.
    Import {
        path: PathBuf,
        /// Tag the image as this reference (archives of one image only).
        #[arg(long)]
        name: Option<String>,
    },
    /// Pull an image from a registry (Registry HTTP API v2).
    Pull {
        reference: String,
        /// `USER:PASSWORD` for Basic auth or a token server.
        #[arg(long, env = "ORC_REGISTRY_AUTH", hide_env_values = true)]
        user: Option<String>,
        /// Allow plain HTTP to this `host:port` (loopback always is).
        #[arg(long = "insecure-registry")]
        insecure: Vec<String>,
    },
    /// List the images in the store.
    #[command(alias = "ls")]
    List,
    /// Untag images and delete what no other image uses.
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        references: Vec<String>,
    },
    /// Make an OCI bundle (overlayfs root + config.json) from an image.
    Bundle {
        image: String,
        dir: PathBuf,
        /// Replace the image's Entrypoint (and drop its Cmd).
        #[arg(long)]
        entrypoint: Option<String>,
        /// `KEY=value`, overriding the image's variable of that name.
        #[arg(long, short)]
        env: Vec<String>,
        /// Replace the image's Cmd.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Unmount and delete a bundle made by `image bundle`.
    Unbundle { dir: PathBuf },
    /// Write a small image into an OCI layout: busybox, or one host binary
    /// and its shared libraries.
    Build {
        layout: PathBuf,
        #[arg(long)]
        name: String,
        /// Package this binary instead of busybox.
        #[arg(long)]
        binary: Option<PathBuf>,
        /// The image's Cmd (arguments to the binary).
        #[arg(last = true)]
        args: Vec<String>,
    },
}

pub fn run(args: ImageArgs) -> anyhow::Result<i32> {
    let open = || {
        Store::open(&args.images)
            .with_context(|| "opening the image store (use --images or ORC_IMAGES to pick another)")
    };
    match args.command {
        ImageCommand::Import { path, name } => {
            let store = open()?;
            let imported = if is_docker_archive(&path) {
                docker_archive::import(&store, &path, name.as_deref())?
            } else {
                oci_layout::import(&store, &path, name.as_deref())?
            };
            for (reference, digest) in imported {
                println!("{reference} {digest}");
            }
        }
        ImageCommand::Pull {
            reference,
            user,
            insecure,
        } => {
            let credentials = user.as_deref().map(Credentials::parse).transpose()?;
            let options = PullOptions {
                credentials,
                insecure,
            };
            let (reference, digest) = registry::pull(&open()?, &reference, &options)?;
            println!("{reference} {digest}");
        }
        ImageCommand::List => {
            println!("{:<50} {:<14} {:>10}", "REFERENCE", "DIGEST", "SIZE");
            for image in open()?.list()? {
                let size = format!("{:.1} MB", image.size() as f64 / 1e6);
                println!(
                    "{:<50} {:<14} {:>10}",
                    image.name,
                    image.digest.short(),
                    size
                );
            }
        }
        ImageCommand::Rm { references } => {
            let store = open()?;
            for r in references {
                let gc = store.remove(&r)?;
                println!(
                    "removed {r} ({} blobs, {} unpacked layers freed)",
                    gc.blobs, gc.layers
                );
            }
        }
        ImageCommand::Bundle {
            image,
            dir,
            entrypoint,
            env,
            args,
        } => {
            let overrides = Overrides {
                command: entrypoint.map(|e| vec![e]),
                args: (!args.is_empty()).then_some(args),
                env,
            };
            let b = bundle::create(&open()?, &image, &dir, &overrides)?;
            println!("{}", b.dir.display());
        }
        ImageCommand::Unbundle { dir } => bundle::remove(&dir)?,
        ImageCommand::Build {
            layout,
            name,
            binary,
            args,
        } => {
            let digest = match binary {
                Some(b) => {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    build::binary_image(&b, &args, &layout, &name)?
                }
                None => build::busybox_image(&layout, &name)?,
            };
            println!("{name} {digest}");
        }
    }
    Ok(0)
}

/// `docker save` writes a tarball with `manifest.json` at the top (Docker
/// 25+ adds an OCI layout beside it, whose names lack the repository, so
/// `manifest.json` wins when both are there).
fn is_docker_archive(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    if path.is_dir() {
        return false;
    }
    let mut archive = tar::Archive::new(file);
    let Ok(entries) = archive.entries() else {
        return false;
    };
    entries.flatten().any(|e| {
        e.path()
            .is_ok_and(|p| p.as_os_str() == "manifest.json" || p.as_os_str() == "./manifest.json")
    })
}
