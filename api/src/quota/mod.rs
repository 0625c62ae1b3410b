//! Resource quantities and quota usage, shared by the API server's admission
//! ([`crate::admission`]) and the ResourceQuota controller in `deltakube-dataflows`:
//!
//! - [`quantity`]: exact `resource.Quantity` arithmetic and upstream's canonical printing;
//! - [`usage`]: one object's quota usage and scope class, as upstream's evaluators measure it.

pub mod quantity;
pub mod usage;
