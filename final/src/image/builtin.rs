//! The recipes orc ships: the seeds' tutorial apps, embedded in the binary
//! so that a pod naming one runs on a machine that has never seen a
//! registry.
//!
//! The agent builds one the first time a pod names it and the store lacks
//! it ([`ShippedRecipes`], plugged into chapter 02's
//! [`StoreImages`](orc_pod::image::StoreImages)); `orc image build
//! --builtin NAME` builds one ahead of time. The YAML lives in
//! `final/recipes/`, where a reader finds it beside the others.

use orc_container::image::{ImageError, Reference, Store};
use orc_pod::image::Recipes;

use super::recipe::{self, Recipe};

/// Each shipped recipe: its file name and its text.
const SHIPPED: &[(&str, &str)] = &[
    (
        "hello-node-v1.yaml",
        include_str!("../../recipes/hello-node-v1.yaml"),
    ),
    (
        "hello-node-v2.yaml",
        include_str!("../../recipes/hello-node-v2.yaml"),
    ),
    (
        "echoserver.yaml",
        include_str!("../../recipes/echoserver.yaml"),
    ),
    // The guestbook: Redis leader and followers, and the frontend, under
    // the current tutorial's names and the older walkthrough's.
    ("redis.yaml", include_str!("../../recipes/redis.yaml")),
    (
        "gb-redis-follower.yaml",
        include_str!("../../recipes/gb-redis-follower.yaml"),
    ),
    (
        "gb-redisslave.yaml",
        include_str!("../../recipes/gb-redisslave.yaml"),
    ),
    (
        "gb-frontend-v5.yaml",
        include_str!("../../recipes/gb-frontend-v5.yaml"),
    ),
    (
        "gb-frontend-v4.yaml",
        include_str!("../../recipes/gb-frontend-v4.yaml"),
    ),
];

/// Every shipped recipe, parsed. They are checked by a test, so one that
/// does not parse is a bug in orc, left out rather than a panic.
pub fn all() -> Vec<Recipe> {
    SHIPPED
        .iter()
        .filter_map(|(file, text)| recipe::parse(&format!("builtin {file}"), text).ok())
        .collect()
}

/// The shipped recipe making `reference` (by its name or an `also` name).
pub fn find(reference: &Reference) -> Option<Recipe> {
    all()
        .into_iter()
        .find(|r| names(r).any(|n| &n == reference))
}

/// A recipe's names, as references (`echoserver` is
/// `docker.io/library/echoserver:latest`).
fn names(recipe: &Recipe) -> impl Iterator<Item = Reference> + '_ {
    std::iter::once(&recipe.name)
        .chain(&recipe.also)
        .filter_map(|n| Reference::parse(n).ok())
}

/// The names `orc image build --builtin` accepts, for its error message.
pub fn known() -> String {
    all()
        .iter()
        .flat_map(|r| std::iter::once(r.name.clone()).chain(r.also.clone()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The shipped recipes as the agent's [`Recipes`].
pub struct ShippedRecipes;

impl Recipes for ShippedRecipes {
    fn makes(&self, reference: &Reference) -> bool {
        find(reference).is_some()
    }

    fn build(&self, store: &Store, reference: &Reference) -> Result<(), ImageError> {
        let recipe = find(reference).ok_or_else(|| ImageError::UnknownImage {
            reference: reference.to_string(),
            store: store.root().to_path_buf(),
        })?;
        super::build::build(&recipe, None, store).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_recipe_parses() {
        for (file, text) in SHIPPED {
            recipe::parse(file, text).unwrap();
        }
        assert_eq!(all().len(), SHIPPED.len());
    }

    #[test]
    fn recipes_are_found_by_every_name_and_only_by_those() {
        let find = |n: &str| find(&Reference::parse(n).unwrap()).map(|r| r.name);
        assert_eq!(find("echoserver").as_deref(), Some("echoserver:1.4"));
        assert_eq!(
            find("docker.io/library/echoserver:1.4").as_deref(),
            Some("echoserver:1.4")
        );
        assert_eq!(find("hello-node:v2").as_deref(), Some("hello-node:v2"));
        assert_eq!(find("hello-node"), None);
        assert_eq!(find("echoserver:1.5"), None);
        assert_eq!(find("registry.example/echoserver:1.4"), None);
        // The guestbook's images, by the names its manifests use.
        assert_eq!(
            find("docker.io/redis:6.0.5").as_deref(),
            Some("redis:6.0.5")
        );
        assert_eq!(find("k8s.gcr.io/redis:e2e").as_deref(), Some("redis:6.0.5"));
        let follower = "us-docker.pkg.dev/google-samples/containers/gke/gb-redis-follower:v2";
        assert_eq!(find(follower).as_deref(), Some(follower));
        let frontend = "us-docker.pkg.dev/google-samples/containers/gke/gb-frontend:v5";
        assert_eq!(find(frontend).as_deref(), Some(frontend));
        assert_eq!(
            find("gcr.io/google-samples/gb-frontend:v4").as_deref(),
            Some("gcr.io/google-samples/gb-frontend:v4")
        );
        assert_eq!(find("redis:7"), None);
    }
}
