//! Label selectors: `app=web,tier!=db,env in (prod,staging),!canary`.
//!
//! Labels are how Kubernetes objects find each other: a Service selects its
//! pods, a ReplicaSet counts its pods, `kubectl get pods -l app=web` filters.
//! A selector is a list of requirements that must *all* hold (there is no
//! "or" across requirements; `in` is the only "or", within one key).
//!
//! The grammar, as Kubernetes' `labels.Parse` accepts it:
//!
//! ```text
//! selector    = requirement { "," requirement }
//! requirement = key ( ("=" | "==" | "!=") value
//!                   | ("in" | "notin") "(" [ value { "," value } ] ")" )
//!             | key          (the key exists)
//!             | "!" key      (the key does not exist)
//! ```
//!
//! [`parse`] and [`Selector::matches`] are pure functions with no I/O: lab 03
//! asks students to write them.

use std::collections::BTreeMap;

use serde_json::Value;

/// One condition on one label key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` or `key==value`: the label is present with this value.
    Equals(String, String),
    /// `key!=value`: the label is absent or has another value. Note that an
    /// object *without* the label matches, as in Kubernetes.
    NotEquals(String, String),
    /// `key in (a,b)`: present with one of the values.
    In(String, Vec<String>),
    /// `key notin (a,b)`: absent, or present with none of the values.
    NotIn(String, Vec<String>),
    /// `key`: present, any value.
    Exists(String),
    /// `!key`: absent.
    DoesNotExist(String),
}

/// A parsed label selector. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// All must hold.
    pub requirements: Vec<Requirement>,
}

/// Why a selector string could not be parsed; answered as 400 BadRequest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse label selector {input:?}: {message} at position {position}")]
pub struct SelectorError {
    /// The selector as the client sent it.
    pub input: String,
    /// What the parser expected.
    pub message: String,
    /// Zero-based character offset where parsing failed.
    pub position: usize,
}

// ANCHOR: matches
/// Whether an object with `labels` satisfies every requirement of `selector`.
/// A free function (and [`Selector::matches`] its method form) so lab 03
/// can give students the same signature to fill in.
pub fn matches(selector: &Selector, labels: &BTreeMap<String, String>) -> bool {
    selector.requirements.iter().all(|r| match r {
        Requirement::Equals(k, v) => labels.get(k) == Some(v),
        Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
        Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
        Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
        Requirement::Exists(k) => labels.contains_key(k),
        Requirement::DoesNotExist(k) => !labels.contains_key(k),
    })
}

impl Selector {
    /// See [`matches()`].
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        matches(self, labels)
    }

    /// Whether this selector matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}
// ANCHOR_END: matches

/// Parses `input` into a [`Selector`]. Whitespace around tokens is ignored.
pub fn parse(input: &str) -> Result<Selector, SelectorError> {
    let mut parser = Parser {
        input,
        chars: input.char_indices().collect(),
        at: 0,
    };
    let mut requirements = Vec::new();
    parser.skip_spaces();
    if parser.at_end() {
        return Ok(Selector::default());
    }
    loop {
        requirements.push(parser.requirement()?);
        parser.skip_spaces();
        if parser.at_end() {
            break;
        }
        parser.expect(',')?;
    }
    Ok(Selector { requirements })
}

/// A hand-written recursive-descent parser over the characters of the input.
struct Parser<'a> {
    input: &'a str,
    chars: Vec<(usize, char)>,
    /// Index into `chars` of the next unread character.
    at: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.at >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).map(|(_, c)| *c)
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn error(&self, message: impl Into<String>) -> SelectorError {
        SelectorError {
            input: self.input.to_string(),
            message: message.into(),
            position: self.at,
        }
    }

    fn expect(&mut self, c: char) -> Result<(), SelectorError> {
        self.skip_spaces();
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected '{c}'")))
        }
    }

    /// Characters allowed in label keys and values: alphanumerics, `-`, `_`,
    /// `.`, and `/` (which only keys use, between prefix and name).
    fn word(&mut self) -> String {
        self.skip_spaces();
        let mut word = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/') {
                word.push(c);
                self.at += 1;
            } else {
                break;
            }
        }
        word
    }

    fn key(&mut self) -> Result<String, SelectorError> {
        let start = self.at;
        let key = self.word();
        if key.is_empty() {
            return Err(self.error("expected a label key"));
        }
        if let Err(why) = crate::names::check_label_key(&key) {
            self.at = start;
            return Err(self.error(format!("invalid label key {key:?}: {why}")));
        }
        Ok(key)
    }

    fn value(&mut self) -> Result<String, SelectorError> {
        let start = self.at;
        let value = self.word();
        if let Err(why) = crate::names::check_label_value(&value) {
            self.at = start;
            return Err(self.error(format!("invalid label value {value:?}: {why}")));
        }
        Ok(value)
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        self.skip_spaces();
        if self.peek() == Some('!') {
            self.at += 1;
            return Ok(Requirement::DoesNotExist(self.key()?));
        }
        let key = self.key()?;
        self.skip_spaces();
        match self.peek() {
            None | Some(',') => Ok(Requirement::Exists(key)),
            Some('=') => {
                self.at += 1;
                if self.peek() == Some('=') {
                    self.at += 1;
                }
                Ok(Requirement::Equals(key, self.value()?))
            }
            Some('!') => {
                self.at += 1;
                if self.peek() != Some('=') {
                    return Err(self.error("expected '=' after '!'"));
                }
                self.at += 1;
                Ok(Requirement::NotEquals(key, self.value()?))
            }
            _ => {
                let operator_at = self.at;
                match self.word().as_str() {
                    "in" => Ok(Requirement::In(key, self.set()?)),
                    "notin" => Ok(Requirement::NotIn(key, self.set()?)),
                    _ => {
                        self.at = operator_at;
                        Err(self.error("expected one of '=', '==', '!=', 'in', 'notin', ','"))
                    }
                }
            }
        }
    }

    /// `( value, value, ... )`, possibly empty.
    fn set(&mut self) -> Result<Vec<String>, SelectorError> {
        self.expect('(')?;
        let mut values = Vec::new();
        self.skip_spaces();
        if self.peek() == Some(')') {
            self.at += 1;
            return Ok(values);
        }
        loop {
            values.push(self.value()?);
            self.skip_spaces();
            match self.peek() {
                Some(',') => self.at += 1,
                Some(')') => {
                    self.at += 1;
                    return Ok(values);
                }
                _ => return Err(self.error("expected ',' or ')'")),
            }
        }
    }
}

/// The same as [`from_label_selector`], but strict, as Kubernetes'
/// `LabelSelectorAsSelector` is: an unknown operator, `In`/`NotIn` without
/// values, `Exists`/`DoesNotExist` with values, or a value that is not a
/// string is an error (saying which expression), not a guess. For clients
/// that must not act on a selector they misread (the scheduler reading a
/// pod's affinity terms).
pub fn try_from_label_selector(selector: &Value) -> Result<Selector, String> {
    if !selector.is_object() {
        return Err("must be an object with matchLabels and matchExpressions".into());
    }
    let mut requirements = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            let v = v
                .as_str()
                .ok_or_else(|| format!("matchLabels.{k}: must be a string"))?;
            requirements.push(Requirement::Equals(k.clone(), v.into()));
        }
    }
    for (i, expr) in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("matchExpressions[{i}]");
        let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
        if key.is_empty() {
            return Err(format!("{at}.key: required"));
        }
        let mut values = Vec::new();
        for v in expr
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            values.push(
                v.as_str()
                    .ok_or_else(|| format!("{at}.values: {v} is not a string"))?
                    .to_string(),
            );
        }
        let key = key.to_string();
        let op = expr.get("operator").and_then(Value::as_str).unwrap_or("");
        requirements.push(match op {
            "In" | "NotIn" if values.is_empty() => {
                return Err(format!("{at}.values: {op} needs at least one value"));
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(format!("{at}.values: {op} takes no values"));
            }
            "In" => Requirement::In(key, values),
            "NotIn" => Requirement::NotIn(key, values),
            "Exists" => Requirement::Exists(key),
            "DoesNotExist" => Requirement::DoesNotExist(key),
            other => {
                return Err(format!(
                    "{at}.operator: {other:?} is not In, NotIn, Exists or DoesNotExist"
                ));
            }
        });
    }
    Ok(Selector { requirements })
}

/// The selector of a `LabelSelector` object (`matchLabels` and
/// `matchExpressions`) as a parsed [`Selector`].
pub fn from_label_selector(selector: &Value) -> Selector {
    let mut requirements = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            requirements.push(Requirement::Equals(
                k.clone(),
                v.as_str().unwrap_or("").into(),
            ));
        }
    }
    for expr in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expr
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let values: Vec<String> = expr
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        match expr.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => requirements.push(Requirement::In(key, values)),
            "NotIn" => requirements.push(Requirement::NotIn(key, values)),
            "Exists" => requirements.push(Requirement::Exists(key)),
            _ => requirements.push(Requirement::DoesNotExist(key)),
        }
    }
    Selector { requirements }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn strict_label_selectors_refuse_what_they_cannot_read() {
        let ok = serde_json::json!({"matchLabels": {"a": "1"},
            "matchExpressions": [{"key": "b", "operator": "In", "values": ["x"]}]});
        assert_eq!(try_from_label_selector(&ok).unwrap().requirements.len(), 2);
        let bad = serde_json::json!({"matchExpressions": [{"key": "b", "operator": "Near"}]});
        assert_eq!(
            try_from_label_selector(&bad).unwrap_err(),
            "matchExpressions[0].operator: \"Near\" is not In, NotIn, Exists or DoesNotExist"
        );
        let empty_in = serde_json::json!({"matchExpressions": [{"key": "b", "operator": "In"}]});
        assert!(try_from_label_selector(&empty_in).is_err());
        assert!(
            try_from_label_selector(&serde_json::json!({}))
                .unwrap()
                .requirements
                .is_empty()
        );
    }

    #[test]
    fn parses_every_operator() {
        let s = parse("a=1, b==2,c!=3, d in (x, y), e notin (z), f, !g").unwrap();
        assert_eq!(
            s.requirements,
            vec![
                Requirement::Equals("a".into(), "1".into()),
                Requirement::Equals("b".into(), "2".into()),
                Requirement::NotEquals("c".into(), "3".into()),
                Requirement::In("d".into(), vec!["x".into(), "y".into()]),
                Requirement::NotIn("e".into(), vec!["z".into()]),
                Requirement::Exists("f".into()),
                Requirement::DoesNotExist("g".into()),
            ]
        );
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert!(parse("").unwrap().matches(&labels(&[])));
        assert!(parse("  ").unwrap().is_empty());
    }

    #[test]
    fn matching_follows_kubernetes() {
        let l = labels(&[("app", "web"), ("env", "prod")]);
        assert!(parse("app=web").unwrap().matches(&l));
        assert!(!parse("app=db").unwrap().matches(&l));
        assert!(
            parse("tier!=db").unwrap().matches(&l),
            "absent key matches !="
        );
        assert!(parse("env in (prod,dev)").unwrap().matches(&l));
        assert!(!parse("tier in (a)").unwrap().matches(&l));
        assert!(parse("tier notin (a)").unwrap().matches(&l));
        assert!(!parse("env notin (prod)").unwrap().matches(&l));
        assert!(parse("app,!canary").unwrap().matches(&l));
        assert!(!parse("app,env=dev").unwrap().matches(&l));
        assert!(parse("app=").is_ok(), "an empty value is allowed");
    }

    #[test]
    fn prefixed_keys() {
        let l = labels(&[("example.com/team", "a")]);
        assert!(parse("example.com/team=a").unwrap().matches(&l));
    }

    #[test]
    fn bad_syntax_says_where() {
        let e = parse("app=web,").unwrap_err();
        assert_eq!(e.position, 8);
        assert!(e.message.contains("label key"), "{e}");
        assert!(parse("app in (a").is_err());
        assert!(
            parse("app ~ a")
                .unwrap_err()
                .to_string()
                .contains("expected one of")
        );
        assert!(parse("a!b").is_err());
        assert!(parse("-bad=x").is_err());
        assert!(parse("a=b c").is_err());
    }
}
