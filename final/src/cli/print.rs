//! Printing: server-side Tables as kubectl lays them out, and objects as
//! YAML or JSON.
//!
//! The server decides *what* the columns are (see the API server's
//! `tables.rs`); the client only decides which to show and how to align
//! them. kubectl aligns with Go's `tabwriter` (minimum width 6, padding 3),
//! and so does [`layout`], so orc's output lines up exactly like kubectl's.

use serde_json::Value;

/// Which optional columns to show.
#[derive(Debug, Clone, Copy, Default)]
pub struct Columns {
    /// `-o wide`: columns of priority above 0 too.
    pub wide: bool,
    /// `-A`: a NAMESPACE column first.
    pub namespace: bool,
    /// `--show-labels`: a LABELS column last.
    pub labels: bool,
}

/// Headers and rows of a Table (`meta.k8s.io/v1`), as text cells.
pub fn table_cells(table: &Value, columns: Columns) -> (Vec<String>, Vec<Vec<String>>) {
    let definitions: Vec<&Value> = table["columnDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let shown: Vec<usize> = (0..definitions.len())
        .filter(|i| columns.wide || definitions[*i]["priority"].as_i64().unwrap_or(0) == 0)
        .collect();
    let mut headers: Vec<String> = shown
        .iter()
        .map(|i| {
            definitions[*i]["name"]
                .as_str()
                .unwrap_or("")
                .to_uppercase()
        })
        .collect();
    if columns.namespace {
        headers.insert(0, "NAMESPACE".into());
    }
    if columns.labels {
        headers.push("LABELS".into());
    }
    let rows = table["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            let mut cells: Vec<String> = shown.iter().map(|i| cell(&row["cells"][*i])).collect();
            let metadata = &row["object"]["metadata"];
            if columns.namespace {
                cells.insert(0, cell(&metadata["namespace"]));
            }
            if columns.labels {
                cells.push(labels(&metadata["labels"]));
            }
            cells
        })
        .collect();
    (headers, rows)
}

fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

/// `key=value` for each entry of a labels or annotations map.
pub fn pairs(map: &Value) -> Vec<String> {
    map.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect()
}

/// `app=web,tier=front`, or `<none>`, as `--show-labels` prints them.
pub fn labels(labels: &Value) -> String {
    let pairs = pairs(labels);
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// The width of each column: the widest cell plus 3, at least 6, as Go's
/// `tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)` in kubectl's printers.
pub fn widths(rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = (cell.chars().count() + 3).max(6);
            if widths.len() <= i {
                widths.push(w);
            } else {
                widths[i] = widths[i].max(w);
            }
        }
    }
    widths
}

/// One aligned line; the last cell is not padded (no trailing spaces).
pub fn line(row: &[String], widths: &[usize]) -> String {
    let mut out = String::new();
    for (i, cell) in row.iter().enumerate() {
        if i + 1 == row.len() {
            out.push_str(cell);
        } else {
            let w = widths.get(i).copied().unwrap_or(0);
            out.push_str(&format!("{cell:<w$}"));
        }
    }
    out
}

/// Headers and rows laid out together, one line each.
pub fn layout(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut all = vec![headers.to_vec()];
    all.extend(rows.iter().cloned());
    let widths = widths(&all);
    all.iter().map(|r| line(r, &widths) + "\n").collect()
}

/// An object (or List) as `-o yaml` or `-o json` prints it.
pub fn object(value: &Value, format: &str) -> anyhow::Result<String> {
    Ok(match format {
        "json" => serde_json::to_string_pretty(value)? + "\n",
        _ => serde_yaml::to_string(value)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lays_out_like_kubectl() {
        let row = |cells: &[&str]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let text = layout(
            &row(&["NAME", "READY", "STATUS"]),
            &[row(&["web", "0/1", "Pending"])],
        );
        assert_eq!(text, "NAME   READY   STATUS\nweb    0/1     Pending\n");
    }
}
