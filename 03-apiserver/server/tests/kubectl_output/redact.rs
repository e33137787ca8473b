//! Making kubectl's output snapshot-stable without lying about its layout.
//!
//! Ages change from run to run ("3s", "12s"), and kubectl sizes each column
//! to its widest cell, so replacing an age with a token by plain text
//! substitution would shift the columns. Instead a table is cut into cells
//! at the header's column starts, the changing cells are replaced, and the
//! table is laid out again the way kubectl's tabwriter does (cells padded to
//! the widest plus three spaces, at least six wide). Text that is not a
//! table (YAML, JSON, describe) only has its uids, resourceVersions and
//! timestamps replaced, which moves nothing else.

use regex::Regex;

/// Columns whose cells are times relative to now that a test cannot fix:
/// the server stamps `creationTimestamp`. (Events' LAST SEEN and restarts'
/// `(12h ago)` come from timestamps the tests write, in whole hours of
/// eight or more, which read the same for an hour.)
const AGE_COLUMNS: &[&str] = &["AGE"];

/// kubectl's tabwriter: minimum cell width and padding
/// (`printers.GetNewTabWriter`).
const MIN_WIDTH: usize = 6;
const PADDING: usize = 3;

/// Whether `line` is a table header: upper-case words such as `NAME`,
/// `PORT(S)`, `UP-TO-DATE`, `NOMINATED NODE`.
fn is_header(line: &str) -> bool {
    let valid = Regex::new(r"^[A-Z][A-Z0-9()\-]*( {1,}[A-Z][A-Z0-9()\-/.]*)*$").unwrap();
    let starts_like_table = ["NAME", "LAST SEEN", "NAMESPACE"]
        .iter()
        .any(|h| line.starts_with(h));
    starts_like_table && valid.is_match(line.trim_end())
}

/// Where each column starts: the header's words that follow three or more
/// spaces (a header like `NOMINATED NODE` has one space inside).
fn column_starts(header: &[char]) -> Vec<usize> {
    let mut starts = vec![0];
    let mut spaces = 0;
    for (i, c) in header.iter().enumerate() {
        if *c == ' ' {
            spaces += 1;
        } else {
            if spaces >= PADDING {
                starts.push(i);
            }
            spaces = 0;
        }
    }
    starts
}

fn cut(line: &[char], starts: &[usize]) -> Vec<String> {
    starts
        .iter()
        .enumerate()
        .map(|(j, &start)| {
            let end = starts
                .get(j + 1)
                .copied()
                .unwrap_or(line.len())
                .min(line.len());
            line.get(start.min(line.len())..end)
                .map(|c| c.iter().collect::<String>().trim().to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// Replaces what changes between runs in one cell of column `header`.
fn redact_cell(header: &str, cell: &str) -> String {
    if AGE_COLUMNS.contains(&header) && !cell.is_empty() && cell != "<unknown>" {
        return "<age>".into();
    }
    // The API server's own address (the `kubernetes` endpoints) has a
    // port picked at random.
    redact_text(cell)
}

fn layout(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|j| {
            let widest = rows
                .iter()
                .map(|r| r.get(j).map_or(0, |c| c.chars().count()))
                .max()
                .unwrap_or(0);
            (widest + PADDING).max(MIN_WIDTH)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (j, cell) in row.iter().enumerate() {
                if j + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}", width = widths[j]));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// kubectl's output with ages, uids, resourceVersions and timestamps
/// replaced by fixed tokens, tables laid out again.
pub fn redact(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !is_header(lines[i]) {
            out.push(redact_text(lines[i]));
            i += 1;
            continue;
        }
        let header: Vec<char> = lines[i].chars().collect();
        let starts = column_starts(&header);
        let names = cut(&header, &starts);
        let mut rows = vec![names.clone()];
        i += 1;
        while i < lines.len() && !lines[i].trim().is_empty() && !is_header(lines[i]) {
            let cells = cut(&lines[i].chars().collect::<Vec<_>>(), &starts);
            rows.push(
                cells
                    .iter()
                    .zip(&names)
                    .map(|(cell, name)| redact_cell(name, cell))
                    .collect(),
            );
            i += 1;
        }
        out.extend(layout(&rows));
    }
    out.join("\n") + "\n"
}

/// Uids, resourceVersions and times in YAML, JSON and describe output.
fn redact_text(line: &str) -> String {
    let rules = [
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "<uid>",
        ),
        (r#"(resourceVersion"?:\s*)"?\d+"?"#, "${1}<rv>"),
        (r#"(resourceVersion=)\d+"#, "${1}<rv>"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:<port>"),
    ];
    let mut line = line.to_string();
    for (pattern, token) in rules {
        line = Regex::new(pattern)
            .unwrap()
            .replace_all(&line, token)
            .to_string();
    }
    // describe's dates: those the tests wrote are in 2024 and stay; the
    // server's (creation times) become a token as wide as the date, so the
    // columns after it stay where kubectl put them.
    let date =
        Regex::new(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} (\d{4}) \d\d:\d\d:\d\d [+-]\d{4}").unwrap();
    line = date
        .replace_all(&line, |c: &regex::Captures| match &c[1] {
            "2024" => c[0].to_string(),
            _ => format!("{:<31}", "<date>"),
        })
        .to_string();
    // describe's tables that end in an age (a node's pods).
    let age = Regex::new(r"^(  .*\s)\d+[smhd](\d+[smh])?$").unwrap();
    age.replace(&line, "${1}<age>").trim_end().to_string()
}

#[test]
fn tables_are_laid_out_again() {
    let text =
        "NAME   READY   STATUS    RESTARTS      AGE\nweb    1/1     Running   2 (12m ago)   104s\n";
    assert_eq!(
        redact(text),
        "NAME   READY   STATUS    RESTARTS      AGE\nweb    1/1     Running   2 (12m ago)   <age>\n"
    );
}
