//! deltakube's API server: the store and its backends, the REST API that kubectl speaks,
//! authentication, authorization and admission.

pub mod resources {
    //! The served resources.
    pub mod registry;
}
pub mod store;
