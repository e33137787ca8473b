//! # orc-book-check: the book never shows code that is not there
//!
//! The book in `chapters/` shows orc's real code through mdBook includes
//! (`{{#include ../../01-container/src/rootfs.rs:pivot}}`) and expected output
//! taken from the labs' snapshots. mdBook itself only *warns* when an include
//! names a missing file or anchor, and renders an empty block. This crate turns
//! that into a failing test: rename a function's anchor and the suite says
//! which chapter and line still point at it.
//!
//! A listing also says which file it comes from, in the Rust book's manner:
//! a caption line `<span class="filename">Filename: 02-pod/src/agent/sync.rs</span>`
//! just before the opening fence. [`check_caption`] makes a missing or
//! wrong caption fail too, so a reader can always open the file a listing
//! shows. Output taken from snapshots (`.snap` files) needs no caption.
//!
//! ## Layout
//!
//! - [`Include`] and [`find_includes`]: parsing the include directives out of a
//!   chapter, in mdBook's syntax.
//! - [`check_include`]: resolving one directive against the file system.
//! - [`caption`] and [`check_caption`]: the caption a listing of a source
//!   file carries, and checking it is there and names the right file.
//! - `tests/book.rs`: runs them over every chapter in `chapters/src`.

use std::path::{Path, PathBuf};

/// What part of the file an include asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The whole file: `{{#include file}}`.
    Whole,
    /// Lines between `ANCHOR: name` and `ANCHOR_END: name`: `{{#include file:name}}`.
    Anchor(String),
    /// A 1-based line range, either end open: `{{#include file:3:10}}`, `file:3:`, `file::10`, `file:3`.
    Lines {
        start: Option<usize>,
        end: Option<usize>,
    },
}

/// One `{{#include ...}}` (or `{{#rustdoc_include ...}}`) found in a chapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// 1-based line of the chapter the directive is on, for error messages.
    pub line: usize,
    /// The path as written, relative to the chapter's directory.
    pub path: String,
    pub selection: Selection,
}

/// Why an include does not resolve.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IncludeError {
    #[error("line {line}: {path} does not exist (paths are relative to the chapter's folder)")]
    MissingFile { line: usize, path: PathBuf },
    #[error(
        "line {line}: {path} has no anchor `{anchor}`: add `ANCHOR: {anchor}` and `ANCHOR_END: {anchor}` comments around the code"
    )]
    MissingAnchor {
        line: usize,
        path: PathBuf,
        anchor: String,
    },
    #[error("line {line}: {path} has {lines} lines, but the include asks for line {wanted}")]
    MissingLines {
        line: usize,
        path: PathBuf,
        lines: usize,
        wanted: usize,
    },
}

impl Include {
    /// Whether this includes a snapshot (`.snap`): program output, which
    /// is shown without a file caption.
    pub fn is_output(&self) -> bool {
        self.path.ends_with(".snap")
    }
}

/// Why a listing of a source file lacks the caption that names it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CaptionError {
    #[error(
        "line {line}: the listing of {file} needs the caption `{expected}` as the last line before its opening fence"
    )]
    Missing {
        line: usize,
        file: String,
        expected: String,
    },
    #[error("line {line}: the caption says `{said}`, but the listing shows {file}")]
    Wrong {
        line: usize,
        file: String,
        said: String,
    },
}

/// The caption of a listing of `file`, a path from the repository's root.
pub fn caption(file: &str) -> String {
    format!(r#"<span class="filename">Filename: {file}</span>"#)
}

/// Checks that the listing holding `include` is captioned with the file it
/// shows: the last non-blank line before the listing's opening fence must
/// be [`caption`] of the include's path, written from the repository's root.
/// `chapter_dir` is the chapter's folder relative to that root
/// (`chapters/src`). Snapshots ([`Include::is_output`]) pass as they are.
pub fn check_caption(
    markdown: &str,
    chapter_dir: &Path,
    include: &Include,
) -> Result<(), CaptionError> {
    if include.is_output() {
        return Ok(());
    }
    let lines: Vec<&str> = markdown.lines().collect();
    let at = include.line - 1;
    let fence = (0..at)
        .rev()
        .find(|&i| lines[i].trim_start().starts_with("```"))
        .unwrap_or(at);
    let before = (0..fence)
        .rev()
        .map(|i| lines[i].trim())
        .find(|l| !l.is_empty());
    let file = from_root(chapter_dir, &include.path);
    let said = before.and_then(|l| {
        l.strip_prefix(r#"<span class="filename">Filename: "#)?
            .strip_suffix("</span>")
    });
    match said {
        Some(said) if said == file => Ok(()),
        Some(said) => Err(CaptionError::Wrong {
            line: include.line,
            file,
            said: said.to_string(),
        }),
        None => Err(CaptionError::Missing {
            line: include.line,
            expected: caption(&file),
            file,
        }),
    }
}

/// `path`, written relative to `chapter_dir`, as a path from the root both
/// are relative to: `../../02-pod/src/ipam.rs` from `chapters/src` is
/// `02-pod/src/ipam.rs`. Purely lexical, like the caption it is compared to.
fn from_root(chapter_dir: &Path, path: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for component in chapter_dir.join(path).components() {
        match component {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

/// Finds every include directive in a chapter's Markdown.
///
/// Like mdBook, a directive written with a leading backslash (`\{{#include}}`)
/// is text about includes, not an include, and is skipped.
pub fn find_includes(markdown: &str) -> Vec<Include> {
    let mut found = Vec::new();
    for (index, text) in markdown.lines().enumerate() {
        let mut rest = text;
        while let Some(open) = rest.find("{{#") {
            let escaped = rest[..open].ends_with('\\');
            let after = &rest[open + 3..];
            let Some(close) = after.find("}}") else { break };
            let body = after[..close].trim();
            rest = &after[close + 2..];
            if escaped {
                continue;
            }
            let argument = body
                .strip_prefix("include ")
                .or_else(|| body.strip_prefix("rustdoc_include "));
            if let Some(argument) = argument {
                found.push(parse_argument(index + 1, argument.trim()));
            }
        }
    }
    found
}

/// Splits `path[:anchor | :start[:end]]` the way mdBook does.
fn parse_argument(line: usize, argument: &str) -> Include {
    let mut parts = argument.splitn(3, ':');
    let path = parts.next().unwrap_or_default().to_string();
    let first = parts.next();
    let second = parts.next();
    let number = |s: &str| s.trim().parse::<usize>().ok();
    let selection = match (first, second) {
        (None, _) => Selection::Whole,
        (Some(a), None) if number(a).is_none() && !a.is_empty() => {
            Selection::Anchor(a.trim().to_string())
        }
        (Some(a), None) => Selection::Lines {
            start: number(a),
            end: number(a),
        },
        (Some(a), Some(b)) => Selection::Lines {
            start: number(a),
            end: number(b),
        },
    };
    Include {
        line,
        path,
        selection,
    }
}

/// Checks that an include from a chapter in `chapter_dir` names something real.
pub fn check_include(chapter_dir: &Path, include: &Include) -> Result<(), IncludeError> {
    let path = chapter_dir.join(&include.path);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Err(IncludeError::MissingFile {
            line: include.line,
            path,
        });
    };
    match &include.selection {
        Selection::Whole => Ok(()),
        Selection::Anchor(anchor) => {
            let has = |marker: &str| text.lines().any(|l| names_anchor(l, marker, anchor));
            if has("ANCHOR:") && has("ANCHOR_END:") {
                Ok(())
            } else {
                Err(IncludeError::MissingAnchor {
                    line: include.line,
                    path,
                    anchor: anchor.clone(),
                })
            }
        }
        Selection::Lines { start, end } => {
            let lines = text.lines().count();
            let wanted = end.or(*start).unwrap_or(1);
            if wanted <= lines {
                Ok(())
            } else {
                Err(IncludeError::MissingLines {
                    line: include.line,
                    path,
                    lines,
                    wanted,
                })
            }
        }
    }
}

/// True when `line` holds `marker` (`ANCHOR:` or `ANCHOR_END:`) followed by
/// exactly `anchor`, in any comment syntax.
fn names_anchor(line: &str, marker: &str, anchor: &str) -> bool {
    line.match_indices(marker).any(|(at, _)| {
        let name: String = line[at + marker.len()..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        name == anchor
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_mdbook_accepts() {
        let md = "a {{#include x.rs}}\n{{#include y.rs:main}} and {{#include z.rs:3:9}}\n\
                  {{#rustdoc_include w.rs:4:}}\n\\{{#include not-me.rs}}\n{{#include v.rs::2}}";
        let found = find_includes(md);
        let summary: Vec<(usize, &str, Selection)> = found
            .iter()
            .map(|i| (i.line, i.path.as_str(), i.selection.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (1, "x.rs", Selection::Whole),
                (2, "y.rs", Selection::Anchor("main".into())),
                (
                    2,
                    "z.rs",
                    Selection::Lines {
                        start: Some(3),
                        end: Some(9)
                    }
                ),
                (
                    3,
                    "w.rs",
                    Selection::Lines {
                        start: Some(4),
                        end: None
                    }
                ),
                (
                    5,
                    "v.rs",
                    Selection::Lines {
                        start: None,
                        end: Some(2)
                    }
                ),
            ]
        );
    }

    #[test]
    fn reports_missing_files_anchors_and_lines() {
        let dir = tempfile_dir();
        std::fs::write(
            dir.join("code.rs"),
            "// ANCHOR: here\nfn f() {}\n// ANCHOR_END: here\n// ANCHOR: half\n",
        )
        .unwrap();
        let check = |md: &str| check_include(&dir, &find_includes(md)[0]);
        assert_eq!(check("{{#include code.rs:here}}"), Ok(()));
        assert!(matches!(
            check("{{#include code.rs:half}}"),
            Err(IncludeError::MissingAnchor { anchor, .. }) if anchor == "half"
        ));
        assert!(matches!(
            check("{{#include code.rs:her}}"),
            Err(IncludeError::MissingAnchor { .. })
        ));
        assert!(matches!(
            check("{{#include gone.rs}}"),
            Err(IncludeError::MissingFile { line: 1, .. })
        ));
        assert_eq!(check("{{#include code.rs:2:4}}"), Ok(()));
        assert!(matches!(
            check("{{#include code.rs:2:5}}"),
            Err(IncludeError::MissingLines {
                lines: 4,
                wanted: 5,
                ..
            })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn listings_of_source_files_name_their_file() {
        let dir = Path::new("chapters/src");
        let check = |md: &str| check_caption(md, dir, &find_includes(md)[0]);
        let good = "Text:\n\n<span class=\"filename\">Filename: 02-pod/src/ipam.rs</span>\n\n\
                    ```rust\n{{#include ../../02-pod/src/ipam.rs:open}}\n```\n";
        assert_eq!(check(good), Ok(()));
        assert!(matches!(
            check("Text:\n\n```rust\n{{#include ../../02-pod/src/ipam.rs:open}}\n```\n"),
            Err(CaptionError::Missing { line: 4, file, .. }) if file == "02-pod/src/ipam.rs"
        ));
        assert!(matches!(
            check(&good.replace("ipam.rs:open", "node.rs:setup")),
            Err(CaptionError::Wrong { said, .. }) if said == "02-pod/src/ipam.rs"
        ));
        let output = "```text\n{{#include ../../labs/02-pod/tests/snapshots/s.snap:5:}}\n```\n";
        assert_eq!(check(output), Ok(()), "output needs no caption");
    }

    /// A fresh directory under the system temp dir; the test removes it.
    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("orc-book-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
