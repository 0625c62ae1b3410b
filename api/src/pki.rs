//! The cluster's certificates: a CA, the apiserver's serving certificate, and an admin client
//! certificate (`O=system:masters`), generated once into the data folder and reused after.
//! Also the admin kubeconfig, in the shape `kubectl config view` shows upstream.

use std::path::{Path, PathBuf};

use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};

/// Errors creating or loading certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// PEM material of the cluster.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca_cert: String,
    pub ca_key: String,
    pub serving_cert: String,
    pub serving_key: String,
    pub admin_cert: String,
    pub admin_key: String,
    /// The ECDSA P-256 key (PKCS#8 PEM) that signs service account tokens.
    pub service_account_key: String,
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|e| PkiError::Io(path.to_path_buf(), e))
}

fn write(path: &Path, text: &str) -> Result<(), PkiError> {
    std::fs::write(path, text).map_err(|e| PkiError::Io(path.to_path_buf(), e))
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time_now();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// Signs a leaf certificate with the CA.
fn leaf(
    issuer: &Issuer<'_, &KeyPair>,
    common_name: &str,
    organizations: &[&str],
    sans: &[String],
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, String), PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, common_name);
    for o in organizations {
        params.distinguished_name.push(DnType::OrganizationName, *o);
    }
    for san in sans {
        params.subject_alt_names.push(match san.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(san.clone().try_into()?),
        });
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![usage];
    validity(&mut params, 365);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl Pki {
    /// Loads the certificates from `dir`, generating any that are missing. `hosts` are the
    /// names and addresses the serving certificate must cover.
    pub fn ensure(dir: &Path, hosts: &[String]) -> Result<Pki, PkiError> {
        std::fs::create_dir_all(dir).map_err(|e| PkiError::Io(dir.to_path_buf(), e))?;
        let p = |n: &str| dir.join(n);
        let service_account_key = match read(&p("sa.key")) {
            Ok(k) => k,
            Err(_) => {
                let k = KeyPair::generate()?.serialize_pem();
                write(&p("sa.key"), &k)?;
                k
            }
        };
        if p("ca.crt").exists() && p("ca.key").exists() && p("apiserver.crt").exists() && p("admin.crt").exists() {
            return Ok(Pki {
                service_account_key,
                ca_cert: read(&p("ca.crt"))?,
                ca_key: read(&p("ca.key"))?,
                serving_cert: read(&p("apiserver.crt"))?,
                serving_key: read(&p("apiserver.key"))?,
                admin_cert: read(&p("admin.crt"))?,
                admin_key: read(&p("admin.key"))?,
            });
        }
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.distinguished_name.push(DnType::CommonName, "deltakube-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        validity(&mut ca_params, 3650);
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::from_params(&ca_params, &ca_key);

        let mut sans: Vec<String> =
            ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "127.0.0.1", "::1"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        for h in hosts {
            if !sans.contains(h) {
                sans.push(h.clone());
            }
        }
        let (serving_cert, serving_key) = leaf(&issuer, "kube-apiserver", &[], &sans, ExtendedKeyUsagePurpose::ServerAuth)?;
        let (admin_cert, admin_key) = leaf(&issuer, "kubernetes-admin", &["system:masters"], &[], ExtendedKeyUsagePurpose::ClientAuth)?;
        let pki = Pki { ca_cert: ca_cert.pem(), ca_key: ca_key.serialize_pem(), serving_cert, serving_key, admin_cert, admin_key, service_account_key };
        write(&p("ca.crt"), &pki.ca_cert)?;
        write(&p("ca.key"), &pki.ca_key)?;
        write(&p("apiserver.crt"), &pki.serving_cert)?;
        write(&p("apiserver.key"), &pki.serving_key)?;
        write(&p("admin.crt"), &pki.admin_cert)?;
        write(&p("admin.key"), &pki.admin_key)?;
        Ok(pki)
    }

    /// The admin kubeconfig for `server` (e.g. `https://127.0.0.1:6443`).
    pub fn admin_kubeconfig(&self, server: &str) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: {server}\n  name: deltakube\ncontexts:\n- context:\n    cluster: deltakube\n    user: kubernetes-admin\n  name: kubernetes-admin@deltakube\ncurrent-context: kubernetes-admin@deltakube\npreferences: {{}}\nusers:\n- name: kubernetes-admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            b64(&self.ca_cert),
            b64(&self.admin_cert),
            b64(&self.admin_key),
        )
    }
}
