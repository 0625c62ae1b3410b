//! Authentication (x509 client certificates, static bearer tokens) and authorization (RBAC
//! with upstream's bootstrap roles).

pub mod authn;
pub mod bootstrap;
pub mod impersonation;
pub mod rbac;
pub mod serviceaccount;

pub use authn::{Authenticator, TokenFile};
pub use rbac::Authorizer;

/// Who is making a request, as upstream's `user.Info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    /// An authenticated user: the groups gain `system:authenticated`, as upstream adds it.
    pub fn authenticated(name: impl Into<String>, uid: impl Into<String>, mut groups: Vec<String>) -> UserInfo {
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".to_string());
        }
        UserInfo { name: name.into(), uid: uid.into(), groups }
    }
}
