//! Finding the labs.
//!
//! A lab is a folder `labs/NN-slug/` holding a crate named `lab-NN`; its
//! `description` in Cargo.toml is the title `cargo lab list` shows. Reading
//! two fields by hand keeps the runner free of a TOML parser.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// One lab crate.
#[derive(Debug, Clone)]
pub struct Lab {
    /// Two digits, as in `cargo lab 01`.
    pub number: String,
    /// The crate's package name, for `cargo test -p`.
    pub package: String,
    pub title: String,
}

/// The `labs/` folder of this checkout.
pub fn labs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every lab, in order.
pub fn discover() -> Result<Vec<Lab>> {
    let mut labs = Vec::new();
    for entry in std::fs::read_dir(labs_dir()).context("reading labs/")? {
        let dir = entry?.path();
        let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let number: String = name.chars().take_while(char::is_ascii_digit).collect();
        let manifest = dir.join("Cargo.toml");
        if number.is_empty() || !manifest.exists() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("reading {}", manifest.display()))?;
        let package = field(&text, "name")
            .with_context(|| format!("{}: no package name", manifest.display()))?;
        let title = field(&text, "description").unwrap_or_else(|| name.to_string());
        labs.push(Lab {
            number,
            package,
            title,
        });
    }
    labs.sort_by(|a, b| a.number.cmp(&b.number));
    Ok(labs)
}

/// The lab called `number` (`1`, `01` and `001` all name lab 01).
pub fn find<'a>(labs: &'a [Lab], number: &str) -> Result<&'a Lab> {
    let wanted = number.trim_start_matches('0');
    match labs
        .iter()
        .find(|lab| lab.number.trim_start_matches('0') == wanted)
    {
        Some(lab) => Ok(lab),
        None => {
            let known: Vec<&str> = labs.iter().map(|l| l.number.as_str()).collect();
            bail!(
                "there is no lab {number}; the labs are {} (`cargo lab list` describes them)",
                known.join(", ")
            )
        }
    }
}

/// The string value of the first `key = "value"` line of a manifest.
fn field(manifest: &str, key: &str) -> Option<String> {
    manifest.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        (name.trim() == key).then(|| value.trim().trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_name_and_description() {
        let manifest = "[package]\nname = \"lab-01\"\ndescription = \"Containers\"\n";
        assert_eq!(field(manifest, "name").as_deref(), Some("lab-01"));
        assert_eq!(
            field(manifest, "description").as_deref(),
            Some("Containers")
        );
        assert_eq!(field(manifest, "version"), None);
    }

    #[test]
    fn finds_a_lab_by_any_spelling_of_its_number() {
        let lab = |n: &str| Lab {
            number: n.into(),
            package: format!("lab-{n}"),
            title: String::new(),
        };
        let labs = vec![lab("01"), lab("02")];
        assert_eq!(find(&labs, "2").unwrap().number, "02");
        assert_eq!(find(&labs, "01").unwrap().number, "01");
        let error = find(&labs, "9").unwrap_err().to_string();
        assert!(error.contains("the labs are 01, 02"), "{error}");
    }
}
