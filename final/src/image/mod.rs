//! `orc image`: the node's image store, with images made here.
//!
//! A cluster with no registry still needs the tutorials' apps. `orc image
//! build` makes an image from a recipe (a short YAML file naming a base,
//! host programs, files and how to run them), `orc image load` takes what
//! `docker save` wrote, `orc image ls` lists the store. The store is the
//! one `orc agent` runs pods from (`--images`, `/var/lib/orc/images`).
//!
//! ## Layout
//!
//! - [`recipe`]: the recipe file, parsed strictly.
//! - [`build`]: a recipe into two layers and a config, imported into the
//!   store; why a program's shared libraries must travel with it.
//! - [`builtin`]: the recipes orc ships (`hello-node:v1`, `:v2`,
//!   `echoserver:1.4`), which the agent builds the first time a pod names
//!   one.
//!
//! ## Deliberately left out
//!
//! Running commands during a build (`RUN`): orc copies, it never executes;
//! a base other than busybox or scratch; the guestbook's redis and
//! frontend (no recipe yet).

pub mod build;
pub mod builtin;
pub mod recipe;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use orc_container::image::{DEFAULT_STORE, Reference, Store, docker_archive};

#[derive(Args)]
pub struct ImageArgs {
    /// The image store (the one `orc agent --images` runs pods from).
    #[arg(long, global = true, default_value = DEFAULT_STORE)]
    images: PathBuf,
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Subcommand)]
enum ImageCommand {
    /// Make an image from a recipe file, or from one orc ships.
    Build {
        /// The recipe (YAML); `from:` files are read beside it.
        #[arg(required_unless_present = "builtin", conflicts_with = "builtin")]
        recipe: Option<PathBuf>,
        /// A shipped recipe by image name: hello-node:v1, hello-node:v2,
        /// echoserver:1.4.
        #[arg(long)]
        builtin: Option<String>,
    },
    /// Import the images of a `docker save` tarball.
    Load {
        file: PathBuf,
        /// Tag the image as this (an archive of one image only).
        #[arg(long)]
        name: Option<String>,
    },
    /// List the images in the store.
    #[command(alias = "list")]
    Ls,
}

pub fn run(args: ImageArgs) -> anyhow::Result<()> {
    let store = Store::open(&args.images).with_context(|| {
        format!(
            "opening the image store {} (--images)",
            args.images.display()
        )
    })?;
    match args.command {
        ImageCommand::Build { recipe, builtin } => {
            let (recipe, dir) = match (recipe, builtin) {
                (Some(path), _) => (read_recipe(&path)?, path.parent().map(Path::to_path_buf)),
                (None, Some(name)) => (shipped(&name)?, None),
                (None, None) => unreachable!("clap requires one"),
            };
            let began = std::time::Instant::now();
            let digest = build::build(&recipe, dir.as_deref(), &store)?;
            for name in std::iter::once(&recipe.name).chain(&recipe.also) {
                println!("{name} {digest}");
            }
            eprintln!("built in {:.1?}", began.elapsed());
        }
        ImageCommand::Load { file, name } => {
            for (reference, digest) in docker_archive::import(&store, &file, name.as_deref())? {
                println!("{reference} {digest}");
            }
        }
        ImageCommand::Ls => print!("{}", list(&store)?),
    }
    Ok(())
}

/// A recipe file, read and parsed.
fn read_recipe(path: &Path) -> anyhow::Result<recipe::Recipe> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the recipe {}", path.display()))?;
    Ok(recipe::parse(&path.display().to_string(), &text)?)
}

/// The shipped recipe for `name`, or the list of those there are.
fn shipped(name: &str) -> anyhow::Result<recipe::Recipe> {
    match builtin::find(&Reference::parse(name)?) {
        Some(recipe) => Ok(recipe),
        None => bail!(
            "orc ships no recipe for `{name}`; it has: {}",
            builtin::known()
        ),
    }
}

/// The store as `crictl images` shows a node's: repository, tag, the
/// image id (the config's digest, short), size.
fn list(store: &Store) -> anyhow::Result<String> {
    let mut out = format!(
        "{:<45} {:<10} {:<14} {:>9}\n",
        "IMAGE", "TAG", "IMAGE ID", "SIZE"
    );
    for image in store.list()? {
        let reference = Reference::parse(&image.name)?;
        let repository = match reference.registry.as_str() {
            orc_container::image::reference::DOCKER_HUB => {
                format!("docker.io/{}", reference.repository)
            }
            registry => format!("{registry}/{}", reference.repository),
        };
        out.push_str(&format!(
            "{:<45} {:<10} {:<14} {:>9}\n",
            repository,
            reference.tag.as_deref().unwrap_or("<none>"),
            image.manifest.config.digest.short(),
            format!("{:.1}MB", image.size() as f64 / 1e6),
        ));
    }
    Ok(out)
}
