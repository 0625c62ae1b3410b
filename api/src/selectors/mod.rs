//! Label and field selectors, parsed from query strings and matched against objects.

pub mod field;
pub mod label;
