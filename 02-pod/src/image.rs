//! Where container root filesystems come from: the [`ImageSource`] trait,
//! and [`StoreImages`], chapter 01's image store behind it.
//!
//! In Kubernetes the kubelet asks the container runtime's image service to
//! pull an image (CRI `PullImage`), then asks the runtime to create a
//! container from it; the runtime gives each container its own writable
//! layer on top of the image's shared, read-only layers. orc does the same
//! with chapter 01's pieces: the image is found in (or pulled into) the
//! [`Store`], and [`bundle::create`] mounts an overlayfs root for *one*
//! container: the unpacked layers as `lowerdir`, the container's own
//! `upper/` and `work/` beside its `config.json`. A write inside the
//! container lands in its `upper/`; the layers, and every other container
//! of the image, never see it. [`ImageSource::remove_root`] unmounts the
//! root and deletes the writable layer when the agent removes the container.
//!
//! Some images the node makes itself instead of fetching: its own
//! `busybox`, built from the host's static binary, and the images of
//! orc's shipped [`Recipes`] (the tutorials' apps, built from the host's
//! programs by the `orc` binary, which plugs them in with
//! [`StoreImages::with_recipes`]).
//!
//! An image that is neither in the store nor pullable fails the way a
//! missing image does in Kubernetes: the container waits with reason
//! `ErrImagePull` and the store's message, which names the image.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use orc_container::image::bundle::{self, ImageBundle, Overrides};
use orc_container::image::registry::{self, PullOptions};
use orc_container::image::{ImageError, Reference, Store, build, oci_layout};

/// Makes container roots from images. A trait so that the sync loop does
/// not care where images come from (the CRI splits the kubelet from the
/// runtime's image service the same way).
pub trait ImageSource: Send + Sync {
    /// Makes `dir` (absent or empty) a bundle for one container of `image`:
    /// its own overlayfs root at `dir/rootfs` and a `config.json` whose
    /// process follows the image's config with `overrides` applied by
    /// Kubernetes' rules ([`bundle::process_args`], [`bundle::merge_env`]).
    /// The caller adds the pod's parts to the returned spec.
    fn create_root(
        &self,
        image: &str,
        overrides: &Overrides,
        dir: &Path,
    ) -> Result<ImageBundle, ImageError>;

    /// Whether `image` is already on the node: with `imagePullPolicy`
    /// `IfNotPresent` or `Never`, the kubelet's `Pulled ... already present
    /// on machine`; otherwise a pull, or `ErrImageNeverPull`.
    fn is_present(&self, image: &str) -> bool;

    /// Fetches `image` from where it comes from, whether the node has it
    /// or not (`imagePullPolicy: Always` asks again at every start), so
    /// that the next [`ImageSource::create_root`] uses what the name
    /// stands for now. Answers the image's size in bytes (config and
    /// layers as stored), for the `Pulled` event.
    fn pull(&self, image: &str) -> Result<u64, ImageError>;

    /// Where a fetch of `image` comes from, for the `Pulling` and
    /// `Pulled` events: a student who sees "Pulling" on a machine without
    /// a registry should also read that the image was built here.
    fn origin(&self, image: &str) -> ImageOrigin {
        let _ = image;
        ImageOrigin::Registry
    }

    /// Unmounts the root made in `dir` and deletes `dir` with the
    /// container's writable layer. Removing what is not there is not an
    /// error: the agent calls this again after a crash or a restart.
    fn remove_root(&self, dir: &Path) -> Result<(), ImageError> {
        bundle::remove(dir)
    }
}

/// Where a fetched image comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageOrigin {
    /// Its registry (or, on a node that never pulls, the store itself).
    Registry,
    /// A recipe the node builds from its own programs ([`Recipes`]).
    Recipe,
}

/// Images the node can build itself when its store lacks them: the
/// kubelet would pull them, but a machine with no registry has only its
/// own programs to make them from. A trait because the recipes belong to
/// the `orc` binary (chapter 08), above this crate.
pub trait Recipes: Send + Sync {
    /// Whether a recipe makes `reference`.
    fn makes(&self, reference: &Reference) -> bool;

    /// Builds the image `reference` names into `store`, under that name.
    fn build(&self, store: &Store, reference: &Reference) -> Result<(), ImageError>;
}

/// Images from chapter 01's content-addressed store.
pub struct StoreImages {
    store: Store,
    /// How to pull an image from its registry, when the container's
    /// `imagePullPolicy` asks for a pull; `None` never contacts a registry
    /// (tests, and nodes without one: the store is then the only source).
    pull: Option<PullOptions>,
    /// Where the node's busybox comes from when the store has no
    /// `busybox`: `orc-agent` then builds the image itself, so the sandbox
    /// (whose pause is busybox's `sleep`) and the book's examples run on a
    /// machine that has never seen a registry.
    busybox: PathBuf,
    /// Images built from recipes when missing, before any registry is
    /// asked: `None` for a node with only busybox.
    recipes: Option<Box<dyn Recipes>>,
    /// A std `Mutex`, held only while an image (busybox, a recipe's) is
    /// built and imported, so that two pods starting at once do not both
    /// build it. Blocking threads hold it, never async tasks.
    building: Mutex<()>,
}

impl StoreImages {
    /// Images from `store`, pulled with `pull` when missing (or never).
    pub fn new(store: Store, pull: Option<PullOptions>) -> StoreImages {
        StoreImages {
            store,
            pull,
            busybox: PathBuf::from("/bin/busybox"),
            recipes: None,
            building: Mutex::new(()),
        }
    }

    /// These images, and those `recipes` make, built on first use.
    pub fn with_recipes(mut self, recipes: Box<dyn Recipes>) -> StoreImages {
        self.recipes = Some(recipes);
        self
    }

    /// The recipes that make `image`, if any do.
    fn recipe_for(&self, image: &str) -> Option<(&dyn Recipes, Reference)> {
        let reference = Reference::parse(image).ok()?;
        let recipes = self.recipes.as_deref()?;
        recipes.makes(&reference).then_some((recipes, reference))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Makes sure `image` is in the store: already there, or fetched
    /// ([`ImageSource::pull`]).
    // ANCHOR: ensure
    fn ensure(&self, image: &str) -> Result<(), ImageError> {
        match self.store.image(image) {
            Ok(_) => Ok(()),
            Err(ImageError::UnknownImage { .. }) => self.pull(image).map(|_| ()),
            Err(e) => Err(e),
        }
    }

    /// What "pull" means for `image` on this node: the node's own busybox
    /// is built from its binary if missing (the binary is its only
    /// source), and so is an image a recipe makes; a node that pulls asks the image's registry again (the
    /// tag may have moved; layers already here are not fetched twice); a
    /// node that never pulls has the store as its registry, and looks the
    /// tag up again there (an `orc-container image import` is its push).
    fn fetch(&self, image: &str) -> Result<(), ImageError> {
        if is_busybox(&Reference::parse(image)?) {
            return self.import_busybox(image);
        }
        if let Some((recipes, reference)) = self.recipe_for(image) {
            return self.build_once(|| recipes.build(&self.store, &reference), image);
        }
        match &self.pull {
            Some(options) => registry::pull(&self.store, image, options).map(|_| ()),
            None => self.store.image(image).map(|_| ()),
        }
    }
    // ANCHOR_END: ensure

    /// Builds a busybox image from the node's static busybox (chapter 01's
    /// [`build::busybox_image`]) and imports it under the name asked for.
    fn import_busybox(&self, image: &str) -> Result<(), ImageError> {
        self.build_once(|| self.build_busybox(image), image)
    }

    /// Runs `build` unless `image` is already in the store, one build at
    /// a time: a second pod waiting here finds the first one's image.
    fn build_once(
        &self,
        build: impl FnOnce() -> Result<(), ImageError>,
        image: &str,
    ) -> Result<(), ImageError> {
        let _building = self.building.lock().unwrap_or_else(|p| p.into_inner());
        if self.store.image(image).is_ok() {
            return Ok(());
        }
        build()
    }

    fn build_busybox(&self, image: &str) -> Result<(), ImageError> {
        let layout = self
            .store
            .root()
            .join("tmp")
            .join(format!("busybox-layout-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&layout);
        let result = build::busybox_image_from(&self.busybox, &layout, image)
            .and_then(|_| oci_layout::import(&self.store, &layout, Some(image)));
        let _ = std::fs::remove_dir_all(&layout);
        result.map(|_| ())
    }
}

/// `busybox`, that is `docker.io/library/busybox:latest`: the one name
/// the node's own binary stands in for. Any other tag (`busybox:1.36`, or
/// the typo `busybox:does-not-exist`) is an image like any other: in the
/// store, pulled, or `ErrImagePull`; a typo must not run the host's busybox.
fn is_busybox(reference: &Reference) -> bool {
    reference.registry == orc_container::image::reference::DOCKER_HUB
        && reference.repository == "library/busybox"
        && reference.tag.as_deref() == Some("latest")
        && reference.digest.is_none()
}

impl ImageSource for StoreImages {
    fn create_root(
        &self,
        image: &str,
        overrides: &Overrides,
        dir: &Path,
    ) -> Result<ImageBundle, ImageError> {
        self.ensure(image)?;
        bundle::create(&self.store, image, dir, overrides)
    }

    fn is_present(&self, image: &str) -> bool {
        self.store.image(image).is_ok()
    }

    fn pull(&self, image: &str) -> Result<u64, ImageError> {
        self.fetch(image)?;
        Ok(self.store.image(image)?.size())
    }

    fn origin(&self, image: &str) -> ImageOrigin {
        match self.recipe_for(image) {
            Some(_) => ImageOrigin::Recipe,
            None => ImageOrigin::Registry,
        }
    }
}

/// Why a container could not be made from its image, as the kubelet names
/// it in the container's `waiting.reason`: the image could not be had
/// (`ErrImagePull`), or the image and the pod spec do not make a process
/// (`CreateContainerConfigError`: no command at all, an unknown user).
pub fn waiting_reason(error: &ImageError) -> &'static str {
    match error {
        ImageError::UnknownImage { .. }
        | ImageError::BadReference { .. }
        | ImageError::Registry { .. }
        | ImageError::DigestMismatch { .. }
        | ImageError::Recipe { .. } => "ErrImagePull",
        ImageError::User { .. } | ImageError::InvalidImage(_) => "CreateContainerConfigError",
        _ => "CreateContainerError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busybox(s: &str) -> bool {
        is_busybox(&Reference::parse(s).unwrap())
    }

    #[test]
    fn busybox_names() {
        assert!(busybox("busybox"));
        assert!(busybox("docker.io/library/busybox:latest"));
        assert!(!busybox("busybox:1.36"));
        assert!(!busybox("busybox:does-not-exist"));
        assert!(!busybox("nginx"));
        assert!(!busybox("127.0.0.1:5000/busybox"));
    }

    /// Recipes for `app:1` only, counting its builds.
    struct AppRecipe(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl Recipes for AppRecipe {
        fn makes(&self, reference: &Reference) -> bool {
            *reference == Reference::parse("app:1").unwrap()
        }

        fn build(&self, store: &Store, reference: &Reference) -> Result<(), ImageError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let layout = store.root().join("app-layout");
            build::busybox_image(&layout, "app:1")?;
            oci_layout::import(store, &layout, Some(&reference.to_string())).map(|_| ())
        }
    }

    #[test]
    fn recipe_images_are_built_once_and_other_names_still_fail() {
        let dir = tempfile::tempdir().unwrap();
        let builds = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let images = StoreImages::new(Store::open(dir.path()).unwrap(), None)
            .with_recipes(Box::new(AppRecipe(builds.clone())));
        assert_eq!(images.origin("app:1"), ImageOrigin::Recipe);
        assert_eq!(
            images.origin("docker.io/library/app:1"),
            ImageOrigin::Recipe
        );
        assert_eq!(images.origin("app:2"), ImageOrigin::Registry);
        assert!(!images.is_present("app:1"));
        images.pull("app:1").unwrap();
        images.pull("app:1").unwrap();
        assert!(images.is_present("app:1"));
        assert_eq!(
            builds.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "built once"
        );
        let e = images.pull("app:2").unwrap_err();
        assert_eq!(waiting_reason(&e), "ErrImagePull");
        assert!(e.to_string().contains("app:2"), "{e}");
    }

    #[test]
    fn unknown_images_are_pull_errors() {
        let dir = tempfile::tempdir().unwrap();
        let images = StoreImages::new(Store::open(dir.path()).unwrap(), None);
        let e = images
            .create_root("nginx:1.25", &Overrides::default(), &dir.path().join("b"))
            .unwrap_err();
        assert_eq!(waiting_reason(&e), "ErrImagePull");
        assert!(e.to_string().contains("nginx:1.25"), "{e}");
        // A tag typo is not the node's busybox.
        let e = images
            .create_root(
                "busybox:does-not-exist",
                &Overrides::default(),
                &dir.path().join("b"),
            )
            .unwrap_err();
        assert_eq!(waiting_reason(&e), "ErrImagePull");
        assert!(e.to_string().contains("busybox:does-not-exist"), "{e}");
        assert!(!dir.path().join("b").exists());
    }
}
