//! Reads a kubeconfig as kubectl does for the fields deltakube's clients need: the current
//! context's cluster (`server`, `certificate-authority[-data]`) and user
//! (`client-certificate[-data]` and `client-key[-data]`, or `token`). File paths are
//! relative to the kubeconfig's folder, as upstream resolves them.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use serde_json::Value;

use super::Credentials;

/// The credentials of the current context of the kubeconfig at `path`.
pub fn load(path: &Path) -> anyhow::Result<Credentials> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the kubeconfig {}", path.display()))?;
    let config: Value = serde_yaml::from_str(&text).with_context(|| format!("parsing the kubeconfig {}", path.display()))?;
    let folder = path.parent().map(Path::to_path_buf).unwrap_or_default();
    credentials(&config, &folder).with_context(|| format!("in the kubeconfig {}", path.display()))
}

fn named<'a>(config: &'a Value, list: &str, name: &str, field: &str) -> anyhow::Result<&'a Value> {
    config
        .get(list)
        .and_then(Value::as_array)
        .and_then(|items| items.iter().find(|i| i.get("name").and_then(Value::as_str) == Some(name)))
        .and_then(|i| i.get(field))
        .ok_or_else(|| anyhow!("no {field} named {name:?} in {list}"))
}

/// Inline `<field>-data` (base64) or a `<field>` file path.
fn pem(section: &Value, field: &str, folder: &Path) -> anyhow::Result<Option<String>> {
    if let Some(data) = section.get(format!("{field}-data")).and_then(Value::as_str) {
        let bytes = base64::engine::general_purpose::STANDARD.decode(data.trim()).with_context(|| format!("{field}-data is not base64"))?;
        return Ok(Some(String::from_utf8(bytes).with_context(|| format!("{field}-data is not PEM text"))?));
    }
    match section.get(field).and_then(Value::as_str) {
        Some(file) => {
            let file = PathBuf::from(file);
            let file = if file.is_absolute() { file } else { folder.join(file) };
            Ok(Some(std::fs::read_to_string(&file).with_context(|| format!("reading {field} {}", file.display()))?))
        }
        None => Ok(None),
    }
}

fn credentials(config: &Value, folder: &Path) -> anyhow::Result<Credentials> {
    let current = config.get("current-context").and_then(Value::as_str).filter(|c| !c.is_empty()).ok_or_else(|| anyhow!("no current-context"))?;
    let context = named(config, "contexts", current, "context")?;
    let cluster_name = context.get("cluster").and_then(Value::as_str).ok_or_else(|| anyhow!("context {current:?} names no cluster"))?;
    let user_name = context.get("user").and_then(Value::as_str).unwrap_or_default();
    let cluster = named(config, "clusters", cluster_name, "cluster")?;
    let server = cluster.get("server").and_then(Value::as_str).ok_or_else(|| anyhow!("cluster {cluster_name:?} has no server"))?;
    if !server.starts_with("https://") {
        bail!("cluster {cluster_name:?}: only https servers are supported, not {server:?}");
    }
    let ca_pem = pem(cluster, "certificate-authority", folder)?.ok_or_else(|| anyhow!("cluster {cluster_name:?} has no certificate-authority"))?;
    let user = if user_name.is_empty() { &Value::Null } else { named(config, "users", user_name, "user")? };
    let client_cert = match (pem(user, "client-certificate", folder)?, pem(user, "client-key", folder)?) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => bail!("user {user_name:?} has a client certificate without its key, or a key without its certificate"),
    };
    let token = user.get("token").and_then(Value::as_str).map(str::to_string);
    if client_cert.is_none() && token.is_none() {
        bail!("user {user_name:?} has neither a client certificate nor a token");
    }
    Ok(Credentials { server: server.to_string(), ca_pem, client_cert, token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_admin_kubeconfig_deltakube_writes() {
        let pki = deltakube_api::pki::Pki::ensure(&tempfile::tempdir().unwrap().path().join("pki"), &["127.0.0.1".into()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.kubeconfig");
        std::fs::write(&path, pki.admin_kubeconfig("https://127.0.0.1:6443")).unwrap();
        let c = load(&path).unwrap();
        assert_eq!(c.server, "https://127.0.0.1:6443");
        assert_eq!(c.ca_pem, pki.ca_cert);
        assert_eq!(c.client_cert, Some((pki.admin_cert.clone(), pki.admin_key.clone())));
    }

    #[test]
    fn file_paths_are_relative_to_the_kubeconfig_and_tokens_work() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), "CA PEM").unwrap();
        let yaml = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://10.0.0.1:6443', certificate-authority: ca.crt}\n\
                    contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\nusers:\n- name: u\n  user: {token: abc}\n";
        std::fs::write(dir.path().join("config"), yaml).unwrap();
        let c = load(&dir.path().join("config")).unwrap();
        assert_eq!((c.ca_pem.as_str(), c.token.as_deref(), c.client_cert.is_none()), ("CA PEM", Some("abc"), true));
    }

    #[test]
    fn a_broken_kubeconfig_says_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config"), "apiVersion: v1\nkind: Config\ncurrent-context: nowhere\n").unwrap();
        let e = format!("{:#}", load(&dir.path().join("config")).unwrap_err());
        assert!(e.contains("no context named \"nowhere\""), "{e}");
    }
}
