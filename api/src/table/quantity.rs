//! `resource.Quantity` as upstream prints it: `ParseQuantity` followed by `String()`, which keeps
//! a canonical input as written and otherwise canonicalizes (`CanonicalizeBytes`), following
//! `k8s.io/apimachinery/pkg/api/resource/quantity.go`.

use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    DecimalExponent,
    DecimalSI,
    BinarySI,
}

/// The printed form of the quantity `v` (a JSON string, or a number as in `storage: 5`);
/// `"0"` for a missing quantity, as the zero `Quantity` prints.
pub(crate) fn quantity_string(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => canonical(s.trim()),
        Some(n @ Value::Number(_)) => canonical(&n.to_string()),
        _ => "0".to_string(),
    }
}

/// `ParseQuantity(s).String()`. Input upstream would reject is returned unchanged.
pub(crate) fn canonical(s: &str) -> String {
    canonicalize(s).unwrap_or_else(|| s.to_string())
}

/// The pieces `parseQuantityString` splits a quantity into.
struct Parsed<'a> {
    positive: bool,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

fn parse(s: &str) -> Option<Parsed<'_>> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => {
            positive = false;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    while pos < b.len() && b[pos] == b'0' {
        pos += 1;
    }
    if pos == b.len() {
        return Some(Parsed {
            positive,
            num: "0",
            denom: "",
            suffix: "",
        });
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
        return None;
    }
    Some(Parsed {
        positive,
        num,
        denom,
        suffix: &s[suffix_start..],
    })
}

/// `quantitySuffixer.interpret`: base, exponent and format of a suffix.
fn interpret(suffix: &str) -> Option<(u32, i32, Format)> {
    let dec = |e| Some((10, e, Format::DecimalSI));
    let bin = |e| Some((2, e, Format::BinarySI));
    match suffix {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        _ if suffix.len() > 1 && (suffix.starts_with('e') || suffix.starts_with('E')) => {
            let e: i64 = suffix[1..].parse().ok()?;
            Some((10, i32::try_from(e).ok()?, Format::DecimalExponent))
        }
        _ => None,
    }
}

fn canonicalize(s: &str) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    if s == "0" {
        return Some(s.to_string());
    }
    let p = parse(s)?;
    let (base, exponent, mut format) = interpret(p.suffix)?;

    // The fast path of ParseQuantity keeps the input string when it is already canonical.
    let digits = format!("{}{}", p.num, p.denom);
    let (precision, fast_scale, multiplier) = match format {
        Format::BinarySI if exponent >= 0 && p.denom.is_empty() => {
            let precision = 15 - p.num.len() as i32 - (exponent as f32 * 3.0 / 10.0) as i32 - 1;
            (precision, 0, 1i64.checked_shl(exponent as u32))
        }
        Format::BinarySI => (-1, 0, None),
        _ => (18 - digits.len() as i32, exponent, Some(1)),
    };
    if precision >= 0 && fast_scale - p.denom.len() as i32 >= -9 {
        let scale = fast_scale - p.denom.len() as i32;
        let value: i64 = digits.parse().ok()?;
        if multiplier.and_then(|m| value.checked_mul(m)).is_some() {
            let keep = match format {
                Format::BinarySI => exponent % 10 == 0 && value & 0x07 != 0,
                _ => scale % 3 == 0 && !digits.ends_with("000") && !digits.starts_with('0'),
            };
            if keep {
                return Some(s.to_string());
            }
        }
    }

    // The exact value: mantissa × 10^scale, sign aside.
    let mut mantissa: i128 = digits.parse().ok()?;
    let mut scale = -(p.denom.len() as i32);
    if base == 10 {
        scale = scale.checked_add(exponent)?;
    } else {
        mantissa = mantissa.checked_mul(1i128.checked_shl(exponent as u32)?)?;
    }
    // Values more precise than nano are rounded up (away from zero) to nano.
    if mantissa != 0 && scale < -9 {
        let divisor = 10i128.checked_pow((-9 - scale) as u32)?;
        mantissa = mantissa / divisor + i128::from(mantissa % divisor != 0);
        scale = -9;
    }
    if format == Format::BinarySI {
        // Binary quantities are capped at the largest int64.
        if scale >= 0
            && mantissa.checked_mul(10i128.checked_pow(scale as u32)?)? > i128::from(i64::MAX)
        {
            mantissa = i128::from(i64::MAX);
            scale = 0;
        }
        if scale < 0 && mantissa > 0 && mantissa < 10i128.checked_pow((-scale) as u32)? {
            format = Format::DecimalSI;
        }
    }
    if !p.positive {
        mantissa = -mantissa;
    }
    if mantissa == 0 {
        return Some("0".to_string());
    }

    if format == Format::BinarySI {
        if let Some(int) = as_integer(mantissa, scale) {
            if int.abs() >= 1024 {
                let (mut n, mut e) = (int, 0);
                while n.abs() >= 1024 && n % 1024 == 0 {
                    n /= 1024;
                    e += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
                    .get(e)
                    .copied()
                    .unwrap_or("");
                return Some(format!("{n}{suffix}"));
            }
        }
        format = Format::DecimalSI;
    }

    // AsCanonicalBytes: strip factors of ten, then make the exponent a multiple of three.
    while mantissa.abs() >= 10 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale += 1;
    }
    while scale % 3 != 0 {
        mantissa = mantissa.checked_mul(10)?;
        scale -= 1;
    }
    let suffix = match format {
        Format::DecimalExponent if scale == 0 => String::new(),
        Format::DecimalExponent => format!("e{scale}"),
        _ => match scale {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            // No suffix exists: upstream prints the bare number.
            _ => "",
        }
        .to_string(),
    };
    Some(format!("{mantissa}{suffix}"))
}

/// `mantissa × 10^scale` as an integer, if it is one.
fn as_integer(mantissa: i128, scale: i32) -> Option<i128> {
    if scale >= 0 {
        mantissa.checked_mul(10i128.checked_pow(scale as u32)?)
    } else {
        let divisor = 10i128.checked_pow((-scale) as u32)?;
        (mantissa % divisor == 0).then(|| mantissa / divisor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Expectations follow quantity_test.go's canonicalization table (k8s.io/apimachinery).
    #[test]
    fn canonical_forms() {
        let cases = [
            ("0", "0"),
            ("0m", "0"),
            ("-0", "0"),
            ("1", "1"),
            ("10", "10"),
            ("1000", "1k"),
            ("100m", "100m"),
            ("0.1", "100m"),
            ("1.5", "1500m"),
            ("1000m", "1"),
            ("1500m", "1500m"),
            ("0.5", "500m"),
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("3072Mi", "3Gi"),
            ("1536Mi", "1536Mi"),
            ("1.5Gi", "1536Mi"),
            ("0.5Ki", "512"),
            ("1025Mi", "1025Mi"),
            ("8Gi", "8Gi"),
            ("12e3", "12e3"),
            ("1e3", "1e3"),
            ("1e2", "100"),
            ("1E6", "1E6"),
            ("5G", "5G"),
            ("5000M", "5G"),
            ("1.0001Ki", "1024102400u"),
            ("1n", "1n"),
            ("0.1n", "1n"),
            ("-1Ki", "-1Ki"),
            ("-100m", "-100m"),
            ("1k", "1k"),
            ("2000k", "2M"),
            ("05", "05"),
            ("+5", "+5"),
            ("0.3333333333333", "333333334n"),
            ("100Mi", "100Mi"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical(input), want, "{input}");
        }
    }

    #[test]
    fn invalid_input_is_kept() {
        for s in ["", "abc", "1Zi", "1.2.3", "1e", "1ee3"] {
            assert_eq!(canonical(s), s);
        }
    }

    #[test]
    fn json_forms() {
        assert_eq!(quantity_string(None), "0");
        assert_eq!(quantity_string(Some(&json!(null))), "0");
        assert_eq!(quantity_string(Some(&json!(5))), "5");
        assert_eq!(quantity_string(Some(&json!(" 2Gi "))), "2Gi");
    }
}
