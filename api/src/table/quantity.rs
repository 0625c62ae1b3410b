//! `resource.Quantity` as the printers show it: `ParseQuantity` followed by `String()`
//! ([`crate::quota::quantity::canonical`]); text upstream would refuse is shown as written.

use serde_json::Value;

use crate::quota::quantity;

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
    quantity::canonical(s).unwrap_or_else(|_| s.to_string())
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
