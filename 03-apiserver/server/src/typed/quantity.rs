//! Is this text a Kubernetes quantity (`500m`, `2Gi`, `1e3`)?
//!
//! Go decodes a `resource.Quantity` with `ParseQuantity`, and an object
//! holding one it cannot parse is not decoded at all: kube-apiserver
//! answers 400 with one of three messages, depending on where the text
//! goes wrong. This file follows the same grammar, in the same order, to
//! give the same message: a sign, digits, an optional fraction, then a
//! suffix that is either a binary (`Ki` .. `Ei`) or decimal (`n` .. `E`)
//! SI unit or a decimal exponent (`e3`, `E-2`).

/// Go's `ErrFormatWrong`: the text is not sign, digits, suffix.
pub const FORMAT_WRONG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
/// Go's `ErrSuffix`: the shape is right, the suffix is no unit.
pub const SUFFIX: &str = "unable to parse quantity's suffix";
/// Go's `ErrNumeric`: no number before the suffix.
pub const NUMERIC: &str = "unable to parse numeric part of quantity";

/// The characters a suffix may start with (Go's `parseQuantityString`).
const SUFFIX_CHARS: &str = "eEinumkKMGTP";

/// Checks `text` as `ParseQuantity` does; the error is Go's message.
pub fn check(text: &str) -> Result<(), &'static str> {
    let text = text.trim();
    if text.is_empty() {
        return Err(FORMAT_WRONG);
    }
    let bytes = text.as_bytes();
    let mut pos = usize::from(matches!(bytes[0], b'+' | b'-'));
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |n| from + n)
    };
    // The number: digits, then an optional fraction.
    let whole_end = digits(pos);
    let mut has_digits = whole_end > pos;
    pos = whole_end;
    if bytes.get(pos) == Some(&b'.') {
        let fraction_end = digits(pos + 1);
        has_digits |= fraction_end > pos + 1;
        pos = fraction_end;
    }
    let suffix_start = pos;
    // The suffix: unit letters, then an optional signed exponent.
    while pos < bytes.len() && SUFFIX_CHARS.contains(bytes[pos] as char) {
        pos += 1;
    }
    if pos < bytes.len() && matches!(bytes[pos], b'+' | b'-') {
        pos += 1;
    }
    if digits(pos) != bytes.len() {
        return Err(FORMAT_WRONG);
    }
    if !is_suffix(&text[suffix_start..]) {
        return Err(SUFFIX);
    }
    // A bare sign is zero in Go; anything else needs a digit.
    if !has_digits && !matches!(text, "+" | "-") {
        return Err(NUMERIC);
    }
    Ok(())
}

/// A binary or decimal SI unit, or a decimal exponent (`e3`, `E-2`).
fn is_suffix(suffix: &str) -> bool {
    const UNITS: &[&str] = &[
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E",
    ];
    if UNITS.contains(&suffix) {
        return true;
    }
    suffix
        .strip_prefix(['e', 'E'])
        .is_some_and(|exponent| exponent.parse::<i64>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_parse_quantity_accepts() {
        for ok in [
            "0", "1", "500m", "2Gi", "1.5", ".5", "1e3", "1E-2", "-1", "+3k", "100Mi", "+", " 2 ",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn refuses_with_go_messages_in_go_order() {
        assert_eq!(check("lots"), Err(FORMAT_WRONG));
        assert_eq!(check(""), Err(FORMAT_WRONG));
        assert_eq!(check("1 Gi"), Err(FORMAT_WRONG));
        assert_eq!(check("1Gb"), Err(FORMAT_WRONG));
        assert_eq!(check("192i"), Err(SUFFIX));
        assert_eq!(check("1e"), Err(SUFFIX));
        assert_eq!(check("1KiB"), Err(FORMAT_WRONG));
        assert_eq!(check("Gi"), Err(NUMERIC));
        assert_eq!(check("."), Err(NUMERIC));
    }
}
