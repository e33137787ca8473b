//! Manifests: `-f FILE`, `-f DIR` and `-f -` into objects.
//!
//! A file may hold several YAML documents separated by `---` lines. Each is
//! parsed on its own, so one malformed document is reported (file, document
//! index, line and column in the file) and the others are still applied, as
//! kubectl does. `kind: List` documents are expanded into their items.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// One document of one source.
pub struct Document {
    /// The file name, or `STDIN`.
    pub source: String,
    /// 1-based position in its file.
    pub index: usize,
    /// The object, or why it could not be read (already naming the source).
    pub object: Result<Value, String>,
}

/// Every document of every `-f` argument, in order. Unreadable files and
/// directories are errors; documents that do not parse are `Err` entries.
pub fn read_all(sources: &[String]) -> Result<Vec<Document>> {
    let mut documents = Vec::new();
    for source in sources {
        if source == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading manifests from stdin")?;
            documents.extend(split("STDIN", &text));
            continue;
        }
        let path = Path::new(source);
        if path.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(path)
                .with_context(|| format!("reading the directory {source}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("yaml" | "yml" | "json")
                    )
                })
                .collect();
            files.sort();
            for file in files {
                documents.extend(read_file(&file)?);
            }
        } else {
            documents.extend(read_file(path)?);
        }
    }
    Ok(documents)
}

fn read_file(path: &Path) -> Result<Vec<Document>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "the path \"{}\" cannot be read; pass a file, a directory or - for stdin",
            path.display()
        )
    })?;
    Ok(split(&path.display().to_string(), &text))
}

/// Splits `text` at `---` lines and parses each document. JSON is YAML, so
/// one parser reads both.
pub fn split(source: &str, text: &str) -> Vec<Document> {
    // (first line of the document, 0-based; its text)
    let mut chunks: Vec<(usize, String)> = vec![(0, String::new())];
    for (n, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") {
            chunks.push((n + 1, String::new()));
        } else if let Some((_, chunk)) = chunks.last_mut() {
            chunk.push_str(line);
            chunk.push('\n');
        }
    }
    let mut documents = Vec::new();
    let mut index = 0;
    for (first_line, chunk) in chunks {
        if chunk.trim().is_empty() {
            continue;
        }
        index += 1;
        let parsed: Result<Value, _> = serde_yaml::from_str(&chunk);
        let object = match parsed {
            Ok(Value::Null) => continue,
            Ok(value) => Ok(value),
            Err(e) => Err(match e.location() {
                // The parser counts lines from the document's start and says
                // so in its message; the user needs the line in the file.
                Some(at) => format!(
                    "error parsing {source} (document {index}): line {}, column {}: {}",
                    at.line() + first_line,
                    at.column(),
                    e.to_string().split(" at line ").next().unwrap_or_default()
                ),
                None => format!("error parsing {source} (document {index}): {e}"),
            }),
        };
        match object {
            Ok(list) if list["kind"] == "List" => {
                for item in list["items"].as_array().into_iter().flatten() {
                    documents.push(Document {
                        source: source.into(),
                        index,
                        object: Ok(item.clone()),
                    });
                }
            }
            object => documents.push(Document {
                source: source.into(),
                index,
                object,
            }),
        }
    }
    documents
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_document_names_its_line_in_the_file() {
        let docs = split("f.yaml", "a: 1\n---\nb: 2\n---\nc: [\n");
        assert_eq!(docs.len(), 3);
        assert!(docs[0].object.is_ok() && docs[1].object.is_ok());
        let error = docs[2].object.as_ref().unwrap_err();
        assert!(
            error.starts_with("error parsing f.yaml (document 3): line 6"),
            "{error}"
        );
    }
}
