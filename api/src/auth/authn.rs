//! Authentication: the identity of a TLS client certificate (CN is the user, each O a group),
//! or a bearer token from `--token-auth-file`. A request with neither is anonymous, and only
//! health and version paths accept it; everything else answers 401.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::UserInfo;
use crate::error::ApiError;

/// Errors loading the token file.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("reading token file {0}: {1}")]
    Io(String, std::io::Error),
    /// A line lacks the `token,user,uid` columns.
    #[error("token file line {0}: want token,user,uid[,\"group1,group2\"]")]
    Malformed(usize),
}

/// Static tokens, as upstream's `--token-auth-file` CSV: `token,user,uid,"group1,group2"`.
#[derive(Debug, Default, Clone)]
pub struct TokenFile {
    tokens: HashMap<String, UserInfo>,
}

impl TokenFile {
    pub fn load(path: &Path) -> Result<TokenFile, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| TokenFileError::Io(path.display().to_string(), e))?;
        TokenFile::parse(&text)
    }

    pub fn parse(text: &str) -> Result<TokenFile, TokenFileError> {
        let mut tokens = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (head, groups) = match line.split_once(",\"") {
                Some((h, g)) => (h, g.trim_end_matches('"').split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()),
                None => (line, Vec::new()),
            };
            let cols: Vec<&str> = head.split(',').map(str::trim).collect();
            if cols.len() < 3 || cols[0].is_empty() || cols[1].is_empty() {
                return Err(TokenFileError::Malformed(i + 1));
            }
            let mut groups: Vec<String> = groups;
            if cols.len() > 3 && !cols[3].is_empty() {
                groups.extend(cols[3].split(',').map(str::to_string));
            }
            tokens.insert(cols[0].to_string(), UserInfo::authenticated(cols[1], cols[2], groups));
        }
        Ok(TokenFile { tokens })
    }

    pub fn insert(&mut self, token: String, user: UserInfo) {
        self.tokens.insert(token, user);
    }

    pub fn lookup(&self, token: &str) -> Option<&UserInfo> {
        self.tokens.get(token)
    }
}

/// Verifies bearer tokens that are not in the token file (service account JWTs).
pub trait TokenVerifier: Send + Sync {
    fn verify(&self, token: &str) -> Option<UserInfo>;
}

/// The identity a TLS client certificate proved, put in request extensions by the listener.
#[derive(Debug, Clone)]
pub struct PeerIdentity(pub UserInfo);

/// All authenticators together.
#[derive(Clone, Default)]
pub struct Authenticator {
    pub tokens: TokenFile,
    pub verifiers: Vec<Arc<dyn TokenVerifier>>,
}

impl Authenticator {
    /// The user a bearer token stands for, if any.
    pub fn authenticate_token(&self, token: &str) -> Option<UserInfo> {
        self.tokens.lookup(token).cloned().or_else(|| self.verifiers.iter().find_map(|v| v.verify(token)))
    }
}

/// Paths anyone may read, as upstream's `system:public-info-viewer`.
pub fn is_public(path: &str) -> bool {
    matches!(path, "/healthz" | "/livez" | "/readyz" | "/version" | "/version/")
        || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
}

/// The axum middleware: sets [`UserInfo`] or answers 401.
pub async fn authenticate(State(authn): State<Arc<Authenticator>>, mut request: Request, next: Next) -> Response {
    let bearer = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_string());
    let user = match bearer {
        Some(token) => match authn.authenticate_token(&token) {
            Some(u) => Some(u),
            None => return ApiError::unauthorized().into_response(),
        },
        None => request.extensions().get::<PeerIdentity>().map(|p| p.0.clone()),
    };
    match user {
        Some(u) => {
            request.extensions_mut().insert(u);
        }
        None if is_public(request.uri().path()) => {}
        None => return ApiError::unauthorized().into_response(),
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_file_lines_with_groups() {
        let f = TokenFile::parse("abc,alice,1,\"dev,ops\"\n# comment\nxyz,bob,2\n").unwrap();
        let a = f.lookup("abc").unwrap();
        assert_eq!(a.name, "alice");
        assert!(a.groups.contains(&"dev".to_string()) && a.groups.contains(&"ops".to_string()));
        assert_eq!(f.lookup("xyz").unwrap().groups, vec!["system:authenticated"]);
        assert!(TokenFile::parse("onlytoken\n").is_err());
    }
}
