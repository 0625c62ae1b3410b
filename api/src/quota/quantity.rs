//! Exact resource quantities, as upstream's `resource.Quantity`
//! (`k8s.io/apimachinery/pkg/api/resource/quantity.go`): parse, add, compare, and print in
//! upstream's canonical form (`500m`, `1`, `128Mi`, `1Gi`, `12e3`).
//!
//! A quantity is held as an exact count of nano-units (10⁻⁹) in an `i128`: cpu is then exact
//! to the nanocore and memory to the byte, sums never round, and the range (about 1.7·10²⁹
//! units) covers every quantity an object carries. Parsing rounds values finer than a nano-unit
//! up, as upstream does; the rare text outside the range is refused rather than rounded.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Nano-units per unit.
const NANO: i128 = 1_000_000_000;
/// The largest binary quantity upstream keeps: larger ones are capped (`maxAllowed`).
const MAX_BINARY: i128 = i64::MAX as i128 * NANO;

/// How a quantity prints, from the suffix it was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Format {
    /// `12e6`, `1E-3`.
    DecimalExponent,
    /// `128Mi`, `1Gi`.
    BinarySI,
    /// `500m`, `1`, `5G`.
    DecimalSI,
}

/// Why a text is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text does not have a quantity's shape (upstream's `ErrFormatWrong`).
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Format,
    /// The suffix is not one upstream knows (upstream's `ErrSuffix`).
    #[error("unable to parse quantity's suffix")]
    Suffix,
    /// The value does not fit an exact count of nano-units.
    #[error("quantity is out of range")]
    OutOfRange,
}

/// An exact quantity: nano-units and the format it prints in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Quantity {
    pub nanos: i128,
    pub format: Format,
}

/// The pieces `parseQuantityString` splits a text into.
struct Parts<'a> {
    positive: bool,
    /// The numerator without leading zeros ("0" when empty).
    num: &'a str,
    /// The digits after the point.
    denom: &'a str,
    suffix: &'a str,
}

fn split(s: &str) -> Result<Parts<'_>, QuantityError> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => {
            positive = false;
            pos = 1;
        }
        Some(b'+') => pos = 1,
        _ => {}
    }
    while pos < b.len() && b[pos] == b'0' {
        pos += 1;
    }
    if pos == b.len() {
        return Ok(Parts { positive, num: "0", denom: "", suffix: "" });
    }
    let start = pos;
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    let num = if pos == start { "0" } else { &s[start..pos] };
    let mut denom = "";
    if pos < b.len() && b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
        denom = &s[start..pos];
    }
    let suffix_start = pos;
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < b.len() && (b[pos] == b'-' || b[pos] == b'+') {
        pos += 1;
    }
    if !b[pos..].iter().all(u8::is_ascii_digit) {
        return Err(QuantityError::Format);
    }
    Ok(Parts { positive, num, denom, suffix: &s[suffix_start..] })
}

/// `quantitySuffixer.interpret`: the base, exponent and format a suffix stands for.
fn interpret(suffix: &str) -> Result<(u32, i32, Format), QuantityError> {
    let decimal = |e| Ok((10, e, Format::DecimalSI));
    let binary = |e| Ok((2, e, Format::BinarySI));
    match suffix {
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "" => decimal(0),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        _ if suffix.len() > 1 && suffix.starts_with(['e', 'E']) => {
            let e: i64 = suffix[1..].parse().map_err(|_| QuantityError::Suffix)?;
            // Upstream keeps the exponent in an int32 that it later negates.
            let e = i32::try_from(e).ok().filter(|e| *e != i32::MIN).ok_or(QuantityError::Suffix)?;
            Ok((10, e, Format::DecimalExponent))
        }
        _ => Err(QuantityError::Suffix),
    }
}

fn pow10(e: u32) -> Result<i128, QuantityError> {
    10i128.checked_pow(e).ok_or(QuantityError::OutOfRange)
}

/// Whether `ParseQuantity` keeps the text itself as the printed form (its fast path, for
/// text already in canonical form).
fn keeps_text(p: &Parts<'_>, exponent: i32, format: Format) -> bool {
    let digits = p.num.len() + p.denom.len();
    let (precision, mut scale, multiplier) = match format {
        Format::BinarySI if exponent >= 0 && p.denom.is_empty() => {
            let precision = 15 - p.num.len() as i64 - (exponent as f32 * 3.0 / 10.0) as i64 - 1;
            (precision, 0i64, 1i64.checked_shl(exponent as u32))
        }
        Format::BinarySI => (-1, 0, None),
        _ => (18 - digits as i64, i64::from(exponent), Some(1)),
    };
    if precision < 0 {
        return false;
    }
    scale -= p.denom.len() as i64;
    if scale < -9 {
        return false;
    }
    let shifted = format!("{}{}", p.num, p.denom);
    let Ok(value) = shifted.parse::<i64>() else {
        return false;
    };
    if multiplier.and_then(|m| value.checked_mul(m)).is_none() {
        return false;
    }
    match format {
        Format::BinarySI => exponent % 10 == 0 && value & 0x07 != 0,
        _ => scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'),
    }
}

impl Quantity {
    /// A zero that prints as `0`.
    pub const ZERO: Quantity = Quantity { nanos: 0, format: Format::DecimalSI };

    /// `n` whole units, printed in `DecimalSI` (upstream's `NewQuantity(n, DecimalSI)`).
    pub fn units(n: i64) -> Quantity {
        Quantity { nanos: i128::from(n) * NANO, format: Format::DecimalSI }
    }

    /// Upstream's `ParseQuantity`: values finer than a nano-unit round up (away from zero),
    /// binary values are capped at the largest int64, and a binary value below one prints as
    /// decimal.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::Format);
        }
        let p = split(s)?;
        let (base, exponent, mut format) = interpret(p.suffix)?;
        let digits = format!("{}{}", p.num, p.denom);
        let mut mantissa: i128 = digits.parse().map_err(|_| QuantityError::OutOfRange)?;
        // The value is mantissa × 10^scale.
        let mut scale = -(p.denom.len() as i64);
        if base == 10 {
            scale += i64::from(exponent);
        } else {
            let factor = 1i128.checked_shl(exponent as u32).ok_or(QuantityError::OutOfRange)?;
            mantissa = mantissa.checked_mul(factor).ok_or(QuantityError::OutOfRange)?;
        }
        let mut nanos = if mantissa == 0 {
            0
        } else if scale + 9 >= 0 {
            let e = u32::try_from(scale + 9).map_err(|_| QuantityError::OutOfRange)?;
            mantissa.checked_mul(pow10(e)?).ok_or(QuantityError::OutOfRange)?
        } else {
            // Finer than a nano-unit: round up to the next nano-unit.
            match u32::try_from(-(scale + 9)).ok().and_then(|e| 10i128.checked_pow(e)) {
                Some(divisor) => mantissa / divisor + i128::from(mantissa % divisor != 0),
                None => 1,
            }
        };
        if format == Format::BinarySI && nanos > MAX_BINARY {
            nanos = MAX_BINARY;
        }
        if format == Format::BinarySI && nanos > 0 && nanos < NANO {
            format = Format::DecimalSI;
        }
        if !p.positive {
            nanos = -nanos;
        }
        Ok(Quantity { nanos, format })
    }

    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// Upstream's `Add`: a zero takes the other's format, so a sum prints as its first
    /// non-zero term does.
    pub fn add(&mut self, other: &Quantity) {
        if self.nanos == 0 {
            self.format = other.format;
        }
        self.nanos += other.nanos;
    }

    /// Compares values, whatever their formats (upstream's `Cmp`).
    pub fn cmp_value(&self, other: &Quantity) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }

    /// The value in units of 10^-`decimals`, rounded up (upstream's `ScaledValue`:
    /// `Value()` is `scaled(0)`, `MilliValue()` is `scaled(3)`).
    pub fn scaled(&self, decimals: u32) -> i128 {
        let divisor = 10i128.pow(9u32.saturating_sub(decimals));
        let q = self.nanos.div_euclid(divisor);
        if self.nanos.rem_euclid(divisor) != 0 {
            q + 1
        } else {
            q
        }
    }
}

/// `ParseQuantity(s).String()`: the text itself when upstream's parser keeps it (it is already
/// canonical), else the canonical form of its value.
pub fn canonical(s: &str) -> Result<String, QuantityError> {
    let q = Quantity::parse(s)?;
    if s == "0" {
        return Ok(s.to_string());
    }
    let p = split(s)?;
    let (_, exponent, format) = interpret(p.suffix)?;
    if keeps_text(&p, exponent, format) {
        return Ok(s.to_string());
    }
    Ok(q.to_string())
}

fn decimal_suffix(exponent: i64) -> Option<&'static str> {
    Some(match exponent {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => return None,
    })
}

/// Upstream's `CanonicalizeBytes`.
impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let mut format = self.format;
        if format == Format::BinarySI && (self.nanos.abs() < 1024 * NANO || self.nanos % NANO != 0) {
            // Small or fractional binary values print as decimal, which loses nothing.
            format = Format::DecimalSI;
        }
        if format == Format::BinarySI {
            let (mut n, mut e) = (self.nanos / NANO, 0usize);
            while n.abs() >= 1024 && n % 1024 == 0 {
                n /= 1024;
                e += 1;
            }
            if let Some(suffix) = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"].get(e) {
                return write!(f, "{n}{suffix}");
            }
            // Past `Ei` no binary suffix exists: print the exact decimal value instead.
            format = Format::DecimalSI;
        }
        // AsCanonicalBytes: factors of ten move into the exponent, which becomes a multiple
        // of three.
        let (mut m, mut e) = (self.nanos, -9i64);
        while m.abs() >= 10 && m % 10 == 0 {
            m /= 10;
            e += 1;
        }
        while e % 3 != 0 {
            m *= 10;
            e -= 1;
        }
        match format {
            Format::DecimalExponent if e == 0 => write!(f, "{m}"),
            Format::DecimalExponent => write!(f, "{m}e{e}"),
            // DecimalSI has no suffix past `E`: upstream falls back to exponent notation.
            _ => match decimal_suffix(e) {
                Some(suffix) => write!(f, "{m}{suffix}"),
                None => write!(f, "{m}e{e}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// `(input, nanos)`: values from `TestQuantityParse` in upstream's
    /// `staging/src/k8s.io/apimachinery/pkg/api/resource/quantity_test.go`.
    #[test]
    fn parses_exactly_as_upstream() {
        let gi: i128 = 1 << 30;
        let cases: &[(&str, i128, Format)] = &[
            ("0", 0, Format::DecimalSI),
            ("0m", 0, Format::DecimalSI),
            ("0Ki", 0, Format::BinarySI),
            ("1", NANO, Format::DecimalSI),
            ("1Ki", 1024 * NANO, Format::BinarySI),
            ("6Gi", 6 * gi * NANO, Format::BinarySI),
            ("3Ei", 3 * (1i128 << 60) * NANO, Format::BinarySI),
            ("5n", 5, Format::DecimalSI),
            ("4u", 4_000, Format::DecimalSI),
            ("3m", 3_000_000, Format::DecimalSI),
            ("50k", 50_000 * NANO, Format::DecimalSI),
            ("1E", 10i128.pow(18) * NANO, Format::DecimalSI),
            ("1E-3", 1_000_000, Format::DecimalExponent),
            ("1e3", 1_000 * NANO, Format::DecimalExponent),
            ("1.3E+6", 1_300_000 * NANO, Format::DecimalExponent),
            ("100.035k", 100_035 * NANO, Format::DecimalSI),
            ("0.5", NANO / 2, Format::DecimalSI),
            ("0.5e-2", 5_000_000, Format::DecimalExponent),
            ("10.035M", 10_035_000 * NANO, Format::DecimalSI),
            ("7.123456M", 7_123_456 * NANO, Format::DecimalSI),
            // Values finer than a nano round up.
            ("3.001n", 4, Format::DecimalSI),
            ("1.1E-9", 2, Format::DecimalExponent),
            ("0.0000000001", 1, Format::DecimalSI),
            ("0.00000012345", 124, Format::DecimalSI),
            // Binary values are capped at the largest int64.
            ("9Ei", MAX_BINARY, Format::BinarySI),
            ("9223372036854775807Ki", MAX_BINARY, Format::BinarySI),
            ("0.5Mi", 512 * 1024 * NANO, Format::BinarySI),
            ("100.035Ki", 102_435_840_000_000, Format::BinarySI),
            // "Things written by trolls": a binary value below one becomes decimal.
            ("0.000000000001Ki", 2, Format::DecimalSI),
            (".001", 1_000_000, Format::DecimalSI),
            ("1.", NANO, Format::DecimalSI),
            ("1.G", NANO * NANO, Format::DecimalSI),
            ("-1.5", -3 * NANO / 2, Format::DecimalSI),
            ("+1.5", 3 * NANO / 2, Format::DecimalSI),
        ];
        for (input, nanos, format) in cases {
            assert_eq!(q(input), Quantity { nanos: *nanos, format: *format }, "{input}");
        }
    }

    /// The invalid inputs of `TestQuantityParse`.
    #[test]
    fn refuses_what_upstream_refuses() {
        for s in ["", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", "1e4294967297", " 1", "1 "] {
            assert!(Quantity::parse(s).is_err(), "{s:?} parsed");
        }
    }

    /// `TestQuantityParseEmit` and the canonical strings of `TestQuantityString`.
    #[test]
    fn prints_the_canonical_form() {
        let cases = [
            ("1Ki", "1Ki"),
            ("1Mi", "1Mi"),
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1000M", "1G"),
            (".001Ki", "1024m"),
            (".000001Ki", "1024u"),
            (".000000001Ki", "1024n"),
            (".000000000001Ki", "2n"),
            ("300Mi", "300Mi"),
            ("307200Ki", "300Mi"),
            ("1025024Mi", "1001Gi"),
            ("5000m", "5"),
            ("1000M", "1G"),
            ("0.001T", "1G"),
            ("1000u", "1m"),
            ("1.08", "1080m"),
            ("1080000000n", "1080m"),
            ("1000E", "1e21"),
            ("5000E", "5e21"),
            (".001e12", "1e9"),
            ("0.001e0", "1e-3"),
            ("1000e-12", "1e-9"),
            ("00", "0"),
        ];
        for (input, want) in cases {
            assert_eq!(q(input).to_string(), want, "{input}");
        }
        // `TestQuantityString`'s binary values below 1024 print as decimal.
        assert_eq!(Quantity { nanos: 5 * NANO, format: Format::BinarySI }.to_string(), "5");
        assert_eq!(Quantity { nanos: NANO / 2, format: Format::BinarySI }.to_string(), "500m");
        assert_eq!(Quantity { nanos: 1025 * NANO, format: Format::BinarySI }.to_string(), "1025");
        assert_eq!(Quantity { nanos: 2000 * NANO, format: Format::BinarySI }.to_string(), "2000");
        // `TestBinarySIPastEiArithmeticRoundTrip`: past Ei, the exact decimal integer.
        assert_eq!(Quantity { nanos: (1i128 << 70) * NANO, format: Format::BinarySI }.to_string(), "1180591620717411303424");
        // `TestQuantityNeg`.
        assert_eq!(Quantity { nanos: -9_010_000_000, format: Format::DecimalSI }.to_string(), "-9010m");
    }

    /// `TestQuantityString`'s canonical texts are kept as written when parsed.
    #[test]
    fn canonical_text_is_kept() {
        for s in [
            "1Gi", "300Mi", "6Ki", "1001Gi", "1G", "1m", "80m", "1080m", "300M", "1T", "1E", "1234567M", "3k", "1025", "0", "1e9", "1e-3", "80e-3", "300e6",
            "1n", "1080u",
        ] {
            assert_eq!(canonical(s).unwrap(), s, "{s}");
        }
        // Upstream keeps these odd but parseable texts too (the fast path's test).
        assert_eq!(canonical("05").unwrap(), "05");
        assert_eq!(canonical("1.500").unwrap(), "1.500");
        assert_eq!(canonical("1024Mi").unwrap(), "1Gi");
        assert_eq!(canonical("0.5").unwrap(), "500m");
        assert_eq!(canonical("1000m").unwrap(), "1");
    }

    /// `TestQuantityAddZeroPreservesSuffix` and `TestQuantityCmp`.
    #[test]
    fn adds_and_compares() {
        for s in ["100m", "1Gi"] {
            let mut a = q(s);
            a.add(&q("0"));
            assert_eq!(a.to_string(), s);
            let mut b = q("0");
            b.add(&q(s));
            assert_eq!(b.to_string(), s);
        }
        let mut sum = q("500m");
        sum.add(&q("1"));
        assert_eq!(sum.to_string(), "1500m");
        let mut mem = q("256Mi");
        mem.add(&q("768Mi"));
        assert_eq!(mem.to_string(), "1Gi");
        assert_eq!(q("100m").cmp_value(&q("50m")), Ordering::Greater);
        assert_eq!(q("10000T").cmp_value(&q("100Gi")), Ordering::Greater);
        assert_eq!(q("1").cmp_value(&q("1000m")), Ordering::Equal);
    }

    /// `Value()` and `MilliValue()` round up, as upstream's `ScaledValue`.
    #[test]
    fn scaled_values_round_up() {
        assert_eq!(q("1.5").scaled(0), 2);
        assert_eq!(q("100m").scaled(3), 100);
        assert_eq!(q("1n").scaled(3), 1);
        assert_eq!(q("1Gi").scaled(0), 1 << 30);
    }
}
