//! Service account tokens: ES256 JWTs signed with the cluster's service account key, as
//! upstream's token issuer writes them. Bound tokens (TokenRequest, `kubectl create token`)
//! carry `exp` and audiences; legacy Secret tokens carry upstream's legacy claims. Verified
//! tokens authenticate as `system:serviceaccount:<ns>:<name>` while the account exists.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivatePkcs8KeyDer;
use serde_json::{json, Value};

use super::authn::TokenVerifier;
use super::UserInfo;
use crate::cache::WatchCache;

/// The issuer written into bound tokens, as upstream's default `--service-account-issuer`.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// The issuer of legacy Secret tokens.
pub const LEGACY_ISSUER: &str = "kubernetes/serviceaccount";

/// Errors loading the signing key.
#[derive(Debug, thiserror::Error)]
pub enum TokenKeyError {
    #[error("service account key is not PKCS#8 PEM: {0}")]
    Pem(String),
    #[error("service account key is not an ECDSA P-256 key: {0}")]
    Key(String),
}

/// Signs and verifies service account tokens.
pub struct ServiceAccountTokens {
    key: EcdsaKeyPair,
    public: Vec<u8>,
    rng: SystemRandom,
    key_id: String,
    cache: Option<Arc<WatchCache>>,
}

/// What a bound token is for.
pub struct TokenRequest<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub audiences: Vec<String>,
    pub expiration_seconds: i64,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl ServiceAccountTokens {
    /// Loads the PKCS#8 PEM key. With a cache, verification also checks that the account
    /// still exists.
    pub fn new(pem: &str, cache: Option<Arc<WatchCache>>) -> Result<ServiceAccountTokens, TokenKeyError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| TokenKeyError::Pem(e.to_string()))?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.secret_pkcs8_der(), &rng).map_err(|e| TokenKeyError::Key(e.to_string()))?;
        let public = key.public_key().as_ref().to_vec();
        let digest = ring::digest::digest(&ring::digest::SHA256, &public);
        let key_id = b64(&digest.as_ref()[..16]);
        Ok(ServiceAccountTokens { key, public, rng, key_id, cache })
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "kid": self.key_id});
        let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        // Signing with a valid key and the system RNG does not fail.
        let signature = self.key.sign(&self.rng, signing_input.as_bytes()).expect("ecdsa signing");
        format!("{signing_input}.{}", b64(signature.as_ref()))
    }

    /// A bound token, as TokenRequest returns; also returns its expiry (unix seconds).
    pub fn issue(&self, request: &TokenRequest, now_unix: i64) -> (String, i64) {
        let exp = now_unix + request.expiration_seconds;
        let claims = json!({
            "aud": request.audiences,
            "exp": exp,
            "iat": now_unix,
            "nbf": now_unix,
            "iss": ISSUER,
            "jti": uuid::Uuid::new_v4().to_string(),
            "sub": format!("system:serviceaccount:{}:{}", request.namespace, request.name),
            "kubernetes.io": {
                "namespace": request.namespace,
                "serviceaccount": {"name": request.name, "uid": request.uid},
            },
        });
        (self.sign(&claims), exp)
    }

    /// A legacy token for a `kubernetes.io/service-account-token` Secret (no expiry).
    pub fn issue_legacy(&self, namespace: &str, name: &str, uid: &str, secret: &str) -> String {
        self.sign(&json!({
            "iss": LEGACY_ISSUER,
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/secret.name": secret,
            "kubernetes.io/serviceaccount/service-account.name": name,
            "kubernetes.io/serviceaccount/service-account.uid": uid,
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
        }))
    }

    /// The claims of a token whose signature is ours, or None.
    pub fn verified_claims(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let input = format!("{header}.{claims}");
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.public).verify(input.as_bytes(), &signature).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
    }
}

impl TokenVerifier for ServiceAccountTokens {
    fn verify(&self, token: &str) -> Option<UserInfo> {
        let claims = self.verified_claims(token)?;
        let now = jiff::Timestamp::now().as_second();
        if claims.get("exp").and_then(Value::as_i64).is_some_and(|exp| exp < now) {
            return None;
        }
        let (ns, name, uid) = match claims.get("iss").and_then(Value::as_str) {
            Some(ISSUER) => (
                claims.pointer("/kubernetes.io/namespace")?.as_str()?,
                claims.pointer("/kubernetes.io/serviceaccount/name")?.as_str()?,
                claims.pointer("/kubernetes.io/serviceaccount/uid")?.as_str()?,
            ),
            Some(LEGACY_ISSUER) => (
                claims.get("kubernetes.io/serviceaccount/namespace")?.as_str()?,
                claims.get("kubernetes.io/serviceaccount/service-account.name")?.as_str()?,
                claims.get("kubernetes.io/serviceaccount/service-account.uid")?.as_str()?,
            ),
            _ => return None,
        };
        if let Some(cache) = &self.cache {
            // A token outlives neither its account nor, for legacy tokens, its Secret.
            let account = cache.get(&format!("/registry/serviceaccounts/{ns}/{name}"))?;
            if account.value.pointer("/metadata/uid").and_then(Value::as_str) != Some(uid) {
                return None;
            }
            if let Some(secret) = claims.get("kubernetes.io/serviceaccount/secret.name").and_then(Value::as_str) {
                cache.get(&format!("/registry/secrets/{ns}/{secret}"))?;
            }
        }
        Some(UserInfo::authenticated(
            format!("system:serviceaccount:{ns}:{name}"),
            uid,
            vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{ns}")],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> ServiceAccountTokens {
        let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
        ServiceAccountTokens::new(&pem, None).unwrap()
    }

    #[test]
    fn bound_tokens_verify_until_they_expire() {
        let t = tokens();
        let now = jiff::Timestamp::now().as_second();
        let req = TokenRequest { namespace: "ns", name: "robot", uid: "u1", audiences: vec!["api".into()], expiration_seconds: 600 };
        let (token, exp) = t.issue(&req, now);
        assert_eq!(exp, now + 600);
        let user = t.verify(&token).unwrap();
        assert_eq!(user.name, "system:serviceaccount:ns:robot");
        assert!(user.groups.contains(&"system:serviceaccounts:ns".to_string()));
        let (expired, _) = t.issue(&req, now - 10_000);
        assert!(t.verify(&expired).is_none());
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let t = tokens();
        let token = t.issue_legacy("ns", "default", "u", "default-token-abcde");
        assert!(t.verify(&token).is_some());
        let mut bad = token.clone();
        bad.insert(bad.len() / 2, 'x');
        assert!(t.verify(&bad).is_none());
        assert!(tokens().verify(&token).is_none());
        assert!(t.verify("not.a.jwt").is_none());
    }
}
