//! Every include in every chapter resolves, every chapter on disk is in
//! the table of contents (mdBook silently leaves out the ones that are not),
//! every listing of a source file names that file in a caption, and every
//! chapter has one title, in one style, in both places.

use std::path::{Path, PathBuf};

use orc_book_check::{check_caption, check_include, find_includes};

fn chapters_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../src")
}

fn chapter_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chapters_src())
        .expect("chapters/src exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_include_names_an_existing_file_and_anchor() {
    let mut errors = Vec::new();
    let mut count = 0;
    for chapter in chapter_files() {
        let text = std::fs::read_to_string(&chapter).unwrap();
        for include in find_includes(&text) {
            count += 1;
            if let Err(error) = check_include(chapter.parent().unwrap(), &include) {
                errors.push(format!("{}: {error}", chapter.display()));
            }
        }
    }
    assert!(errors.is_empty(), "broken includes:\n{}", errors.join("\n"));
    assert!(count > 0, "the book should show real code through includes");
}

#[test]
fn every_listing_of_a_source_file_names_its_file() {
    let mut errors = Vec::new();
    for chapter in chapter_files() {
        let text = std::fs::read_to_string(&chapter).unwrap();
        for include in find_includes(&text) {
            if let Err(error) = check_caption(&text, Path::new("chapters/src"), &include) {
                errors.push(format!("{}: {error}", chapter.display()));
            }
        }
    }
    assert!(
        errors.is_empty(),
        "listings without their caption:\n{}",
        errors.join("\n")
    );
}

#[test]
fn every_chapter_is_in_the_summary() {
    let summary = std::fs::read_to_string(chapters_src().join("SUMMARY.md")).unwrap();
    for chapter in chapter_files() {
        let name = chapter.file_name().unwrap().to_str().unwrap();
        if name != "SUMMARY.md" {
            assert!(
                summary.contains(&format!("({name})")),
                "{name} is not linked from SUMMARY.md, so the book would leave it out"
            );
        }
    }
}

/// One title style: `# 03 · The API server` at the top of the chapter, and
/// the same words as its entry in SUMMARY.md, so the table of contents and
/// the page never disagree.
#[test]
fn every_chapter_title_is_numbered_and_matches_the_summary() {
    let summary = std::fs::read_to_string(chapters_src().join("SUMMARY.md")).unwrap();
    for chapter in chapter_files() {
        let name = chapter.file_name().unwrap().to_str().unwrap();
        if name == "SUMMARY.md" {
            continue;
        }
        let text = std::fs::read_to_string(&chapter).unwrap();
        let title = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# "))
            .unwrap_or_else(|| panic!("{name} should start with its `# ` title"));
        let number = &name[..2];
        assert!(
            title.starts_with(&format!("{number} · ")),
            "{name}: the title `{title}` should read `{number} · <Title>`"
        );
        assert!(
            summary.contains(&format!("[{title}]({name})")),
            "SUMMARY.md should link {name} as `[{title}]({name})`"
        );
    }
}
