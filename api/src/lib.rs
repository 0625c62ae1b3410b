//! deltakube's API server: the store and its backends, the REST API that kubectl speaks,
//! authentication, authorization and admission.

pub mod admission;
pub mod apiserver;
pub mod auth;
pub mod cache;
pub mod defaults;
pub mod error;
pub mod object;
pub mod openapi;
pub mod patch;
pub mod pki;
pub mod protobuf;
pub mod quota;
pub mod request_info;
pub mod resources {
    //! The served resources.
    pub mod registry;
}
pub mod reviews;
pub mod selectors;
pub mod serve;
pub mod server;
pub mod service_alloc;
pub mod store;
pub mod stored_bytes;
pub mod table;
pub mod validation;
pub mod views_proxy;
