//! Reading Prometheus text, as served on `/metrics` by etcd, the API server
//! and the node agent: tests assert on gauges (open watches, open log
//! streams) to prove that something was released, not just that it worked.
//! [`page`] fetches such a page.

/// The body of a GET of `url` as text: a `/metrics` page (the API
/// server's, etcd's, the scheduler's) or any other text endpoint. Fails
/// the test, naming `url`, when it does not answer.
pub async fn page(url: impl AsRef<str>) -> String {
    let url = url.as_ref();
    let response = crate::http_client()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    response
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: reading the body: {e}"))
}

/// The value of the first sample named `name` (a metric name with its
/// labels, exactly as it appears before the value), or `None` if absent.
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            (key == name).then(|| value.parse().ok()).flatten()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_samples_by_name_and_labels() {
        let text = "# HELP x\n# TYPE x gauge\nx 3\nrequests{code=\"200\"} 7\nx_total 1.5e0\n";
        assert_eq!(sample(text, "x"), Some(3.0));
        assert_eq!(sample(text, "requests{code=\"200\"}"), Some(7.0));
        assert_eq!(sample(text, "x_total"), Some(1.5));
        assert_eq!(sample(text, "missing"), None);
    }
}
