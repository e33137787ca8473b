//! Kubernetes resource quantities: `"500m"` CPU, `"64Mi"` memory.
//!
//! A quantity is a number with an optional suffix: decimal SI suffixes
//! (`k`, `M`, `G`, `T`, `P`, `E`, and `m` for thousandths), binary ones
//! (`Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`), or an exponent (`1e3`). CPU is
//! counted in millicores (`"1"` = `"1000m"`), memory in bytes. Kubernetes
//! rounds a fractional CPU up to the next millicore and a fractional byte
//! up to the next byte; so does orc.

use thiserror::Error;

/// A quantity that does not parse, with the text that was given.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{text:?} is not a quantity (examples: \"500m\", \"2\", \"64Mi\", \"1G\")")]
pub struct QuantityError {
    pub text: String,
}

/// The value of `text` multiplied by `scale`, rounded up, e.g.
/// `parse_scaled("500m", 1000) == Ok(500)` (millicores) and
/// `parse_scaled("64Mi", 1) == Ok(67108864)` (bytes).
pub fn parse_scaled(text: &str, scale: u64) -> Result<u64, QuantityError> {
    let error = || QuantityError { text: text.into() };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    let value: f64 = number.parse().map_err(|_| error())?;
    let multiplier: f64 = match suffix {
        "" => 1.0,
        // Nano and micro: the metrics API writes CPU in nanocores (`123456789n`).
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..].parse().map_err(|_| error())?;
            10f64.powi(exp)
        }
        _ => return Err(error()),
    };
    let scaled = value * multiplier * scale as f64;
    if !scaled.is_finite() || scaled < 0.0 {
        return Err(error());
    }
    // Subtracting a hair before `ceil` keeps 0.1 * 1000 (= 100.00000000000001)
    // at 100 instead of rounding it up to 101.
    Ok((scaled - 1e-9).ceil().max(0.0) as u64)
}

/// CPU in millicores: `"500m"` → 500, `"2"` → 2000, `"0.1"` → 100.
pub fn parse_cpu_millis(text: &str) -> Result<u64, QuantityError> {
    parse_scaled(text, 1000)
}

/// Memory in bytes: `"64Mi"` → 67108864, `"1G"` → 1000000000.
pub fn parse_bytes(text: &str) -> Result<u64, QuantityError> {
    parse_scaled(text, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu() {
        assert_eq!(parse_cpu_millis("500m"), Ok(500));
        assert_eq!(parse_cpu_millis("2"), Ok(2000));
        assert_eq!(parse_cpu_millis("0.1"), Ok(100));
        assert_eq!(parse_cpu_millis("1.5"), Ok(1500));
        assert_eq!(parse_cpu_millis("250000000n"), Ok(250));
        assert_eq!(parse_cpu_millis("1500u"), Ok(2));
        assert_eq!(
            parse_cpu_millis("0.0001"),
            Ok(1),
            "rounded up, like Kubernetes"
        );
    }

    #[test]
    fn memory() {
        assert_eq!(parse_bytes("64Mi"), Ok(64 << 20));
        assert_eq!(parse_bytes("1Gi"), Ok(1 << 30));
        assert_eq!(parse_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(parse_bytes("128974848"), Ok(128_974_848));
        assert_eq!(parse_bytes("129e6"), Ok(129_000_000));
        assert_eq!(parse_bytes("123k"), Ok(123_000));
    }

    #[test]
    fn garbage() {
        assert!(parse_bytes("64 MB").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_cpu_millis("").is_err());
    }
}
