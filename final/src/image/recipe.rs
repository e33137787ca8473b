//! A recipe: the few lines that say what goes into an image.
//!
//! A Dockerfile runs commands in a container to make each layer; orc has no
//! registry to fetch a base from and no need to run anything, so a recipe
//! only *lists* what the image holds. Every field maps to one part of the
//! image (chapter 01, "What an image is"):
//!
//! ```yaml
//! name: hello-node:v1          # the store's tag (also: more tags)
//! base: busybox                # the first layer: busybox, or scratch
//! programs: [/usr/bin/node]    # host programs, with their libraries
//! files:                       # files written into the image
//!   - path: /app/server.js
//!     content: "..."           # inline, or from: a file beside the recipe
//! workdir: /app                # the config's WorkingDir
//! entrypoint: [/usr/bin/node, /app/server.js]
//! cmd: []
//! env: {PORT: "8080"}
//! expose: [8080]               # ExposedPorts: documentation only
//! ```
//!
//! Parsing is strict: an unknown field is a typo the user should hear
//! about, not a silently ignored wish, and every error names the recipe,
//! the field and what to write instead.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path};

use orc_container::image::Reference;
use serde::Deserialize;

/// What an image is made of, as the recipe file says it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The image's name in the store (`hello-node:v1`).
    pub name: String,
    /// More names for the same image (`echoserver` beside `echoserver:1.4`).
    #[serde(default)]
    pub also: Vec<String>,
    /// What the first layer holds.
    #[serde(default)]
    pub base: Base,
    /// Host programs copied in with the shared libraries they load: an
    /// absolute path lands at the same path; a bare name is looked up
    /// beside the `orc` binary, then on `PATH`, and lands in
    /// `/usr/local/bin`.
    #[serde(default)]
    pub programs: Vec<String>,
    #[serde(default)]
    pub files: Vec<FileEntry>,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    /// Sorted by name in the image's config, as a map has no order.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub expose: Vec<u16>,
}

/// The bottom layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Base {
    /// The host's static busybox and a link per applet: a shell, `wget`,
    /// `nc`, as the official `busybox` image has.
    #[default]
    Busybox,
    /// Nothing but the directories the runtime mounts over and a user
    /// database: only what the recipe adds.
    Scratch,
}

/// One file written into the image.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Where it lands in the image (absolute).
    pub path: String,
    /// Its content, written in the recipe...
    #[serde(default)]
    pub content: Option<String>,
    /// ...or the file of this name, relative to the recipe's directory.
    #[serde(default)]
    pub from: Option<String>,
    /// Mode 0755 instead of 0644 (a script). A flag, not a mode: YAML
    /// reads `0755` as octal in version 1.1 and as decimal in 1.2.
    #[serde(default)]
    pub executable: bool,
}

/// Why a recipe was refused: which recipe, which field, what is wrong and
/// what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeError {
    /// The recipe file (or `builtin NAME`).
    pub source: String,
    /// The field path (`files[0].path`), or the YAML position.
    pub field: String,
    pub problem: String,
}

impl fmt::Display for RecipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "recipe {}: {}: {}",
            self.source, self.field, self.problem
        )
    }
}

impl std::error::Error for RecipeError {}

/// Parses and checks the recipe in `text`; `source` names it in errors.
pub fn parse(source: &str, text: &str) -> Result<Recipe, RecipeError> {
    let recipe: Recipe = serde_yaml::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("line {}, column {}", l.line(), l.column()))
            .unwrap_or_else(|| "the document".into());
        RecipeError {
            source: source.to_string(),
            field: at,
            // yaml_serde's message repeats the position at its end.
            problem: e.to_string().split(" at line ").next().unwrap_or("").into(),
        }
    })?;
    check(&recipe).map_err(|(field, problem)| RecipeError {
        source: source.to_string(),
        field,
        problem,
    })?;
    Ok(recipe)
}

/// The checks serde's types cannot say: names that parse, absolute paths
/// that stay inside the image, something to run.
fn check(recipe: &Recipe) -> Result<(), (String, String)> {
    for (field, name) in std::iter::once(("name".to_string(), &recipe.name)).chain(
        recipe
            .also
            .iter()
            .enumerate()
            .map(|(i, n)| (format!("also[{i}]"), n)),
    ) {
        Reference::parse(name).map_err(|e| (field, e.to_string()))?;
    }
    for (i, program) in recipe.programs.iter().enumerate() {
        let field = format!("programs[{i}]");
        if program.contains('/') && !program.starts_with('/') {
            return Err((
                field,
                format!(
                    "`{program}` must be an absolute host path (/usr/bin/node) or a bare name found beside orc or on PATH (node)"
                ),
            ));
        } else if program.contains('/') {
            image_path(program).map_err(|p| (field, p))?;
        } else if program.is_empty() {
            return Err((
                field,
                "is empty: name a host program such as /usr/bin/node".into(),
            ));
        }
    }
    for (i, file) in recipe.files.iter().enumerate() {
        let field = format!("files[{i}]");
        image_path(&file.path).map_err(|p| (format!("{field}.path"), p))?;
        match (&file.content, &file.from) {
            (Some(_), Some(_)) => {
                return Err((field, "has both `content` and `from`: keep one".into()));
            }
            (None, None) => {
                return Err((
                    field,
                    "needs `content: TEXT` or `from: FILE` (relative to the recipe)".into(),
                ));
            }
            _ => {}
        }
    }
    if let Some(dir) = &recipe.workdir {
        image_path(dir).map_err(|p| ("workdir".into(), p))?;
    }
    if recipe.entrypoint.is_empty() && recipe.cmd.is_empty() && recipe.base == Base::Scratch {
        return Err((
            "entrypoint".into(),
            "a scratch image needs `entrypoint` or `cmd`: it has no shell to fall back on".into(),
        ));
    }
    for name in recipe.env.keys() {
        if name.is_empty() || name.contains('=') {
            return Err((
                format!("env.{name}"),
                "a variable name must be non-empty and hold no `=`".into(),
            ));
        }
    }
    if let Some(i) = recipe.expose.iter().position(|p| *p == 0) {
        return Err((
            format!("expose[{i}]"),
            "port 0 is not a port: use 1 to 65535".into(),
        ));
    }
    Ok(())
}

/// A path inside the image must be absolute and must not climb out of it.
fn image_path(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(format!(
            "`{path}` must be an absolute path in the image, such as /app/{path}"
        ));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(format!("`{path}` must not contain `..`"));
    }
    if p.components().count() < 2 {
        return Err(format!("`{path}` names the image's root, not a file"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each broken recipe, then what orc says about it.
    fn errors(cases: &[(&str, &str)]) -> String {
        cases
            .iter()
            .map(|(what, text)| match parse("app.yaml", text) {
                Ok(_) => format!("{what}:\n  accepted!\n"),
                Err(e) => format!("{what}:\n  {e}\n"),
            })
            .collect()
    }

    #[test]
    fn broken_recipes_are_refused_with_the_field_and_a_fix() {
        let report = errors(&[
            ("no name", "base: busybox\n"),
            ("a typo in a field", "name: app:1\nentrypiont: [/app]\n"),
            ("an unknown base", "name: app:1\nbase: alpine\n"),
            ("a name with capitals", "name: App:1\n"),
            (
                "a relative file path",
                "name: app:1\nfiles:\n  - path: app.js\n    content: x\n",
            ),
            (
                "a path that climbs",
                "name: app:1\nfiles:\n  - path: /app/../../etc/x\n    content: x\n",
            ),
            (
                "a file with no content",
                "name: app:1\nfiles:\n  - path: /app.js\n",
            ),
            (
                "content and from",
                "name: app:1\nfiles:\n  - path: /a\n    content: x\n    from: a\n",
            ),
            (
                "a mode",
                "name: app:1\nfiles:\n  - path: /a\n    content: x\n    mode: 0755\n",
            ),
            (
                "scratch with nothing to run",
                "name: app:1\nbase: scratch\n",
            ),
            ("a port out of range", "name: app:1\nexpose: [70000]\n"),
            ("port zero", "name: app:1\nexpose: [0]\n"),
            ("a relative program", "name: app:1\nprograms: [bin/node]\n"),
            ("not YAML", "name: [app\n"),
        ]);
        insta::assert_snapshot!(report);
    }

    #[test]
    fn a_full_recipe_parses() {
        let recipe = parse(
            "app.yaml",
            "name: app:1\nalso: [app]\nbase: scratch\nprograms: [/usr/bin/node, orc-echoserver]\n\
             files:\n  - path: /app/a.js\n    content: hi\n    executable: true\n\
             workdir: /app\nentrypoint: [/usr/bin/node]\ncmd: [a.js]\nenv: {PORT: '8080'}\nexpose: [8080]\n",
        )
        .unwrap();
        assert_eq!(recipe.base, Base::Scratch);
        assert!(recipe.files[0].executable);
        assert_eq!(recipe.env["PORT"], "8080");
        assert_eq!(recipe.expose, [8080]);
    }
}
