//! Security defaults and bad input: bearer tokens from `--token-auth-file`, 401 for anonymous
//! requests, and clear Status errors (never a panic or a 500) for malformed, oversized or
//! unknown-field bodies, bad selectors and bad resourceVersions.

mod support;

use serde_json::Value;
use support::{write_file, Backend, Cluster};

fn status_of(out: &std::process::Output) -> (u16, Value) {
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn bearer_tokens_authenticate_and_anonymous_requests_get_401() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = write_file(dir.path(), "tokens.csv", "s3cr3t-token,alice,1001,\"system:masters\"\n");
    let cluster = Cluster::start_with(Backend::Embedded, &["--token-auth-file", tokens.to_str().unwrap()]);
    let url = format!("{}/api", cluster.url());
    let with_token = std::process::Command::new("curl").args(["-sS", "--insecure", &url, "--header", "Authorization: Bearer s3cr3t-token"]).output().unwrap();
    let body: Value = serde_json::from_slice(&with_token.stdout).unwrap();
    assert_eq!(body["kind"], "APIVersions");
    assert!(body["serverAddressByClientCIDRs"].is_array());

    for (path, header) in [("/api", None), ("/api/v1/namespaces/default/pods", None), ("/api", Some("Authorization: Bearer wrong"))] {
        let mut c = std::process::Command::new("curl");
        c.args(["-sS", "--insecure", "-w", "\n%{http_code}", &format!("{}{path}", cluster.url())]);
        if let Some(h) = header {
            c.args(["--header", h]);
        }
        let (code, status) = status_of(&c.output().unwrap());
        assert_eq!(code, 401, "{path}");
        assert_eq!(status["reason"], "Unauthorized");
    }
    // Health and version stay public.
    for path in ["/healthz", "/version", "/readyz", "/livez"] {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--insecure", "-o", "/dev/null", "-w", "%{http_code}", &format!("{}{path}", cluster.url())])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{path}");
    }
}

#[test]
fn bad_input_gets_a_status_with_the_right_code() {
    let cluster = Cluster::start(Backend::Embedded);
    let ns_url = format!("{}/api/v1/namespaces/default/configmaps", cluster.url());
    let post = |body: &str, content_type: &str, query: &str| {
        status_of(&cluster.curl(&[
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
            "-H",
            &format!("Content-Type: {content_type}"),
            "--data-binary",
            body,
            &format!("{ns_url}{query}"),
        ]))
    };
    let (code, status) = post("{not json", "application/json", "");
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    let (code, status) = post("a: [unclosed", "application/yaml", "");
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    let (code, status) =
        post(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"dta":{"a":"b"}}"#, "application/json", "?fieldValidation=Strict");
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")));
    assert!(status["message"].as_str().unwrap().contains(r#"unknown field "dta""#), "{status}");
    let (code, status) = post(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Bad_Name"}}"#, "application/json", "");
    assert_eq!((code, status["reason"].as_str()), (422, Some("Invalid")));
    assert_eq!(status["details"]["causes"][0]["field"], "metadata.name");
    // A value of the wrong type is refused as upstream's typed decoding refuses it.
    let (code, status) = post(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"typed"},"data":{"a":7}}"#, "application/json", "");
    assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")), "{status}");
    assert!(status["message"].as_str().unwrap().contains("cannot be handled as a ConfigMap"), "{status}");
    let (code, _) = post("{}", "application/vnd.kubernetes.unknown", "");
    assert_eq!(code, 415);

    // Over 3 MiB: 413.
    let big = format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"a":"{}"}}}}"#, "x".repeat(3 * 1024 * 1024 + 10));
    let file = write_file(cluster.dir.path(), "big.json", &big);
    let out = cluster.curl(&[
        "-w",
        "\n%{http_code}",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &format!("@{}", file.display()),
        &ns_url,
    ]);
    let (code, status) = status_of(&out);
    assert_eq!((code, status["reason"].as_str()), (413, Some("RequestEntityTooLarge")));

    // Bad selectors and resourceVersions: 400.
    for query in ["?labelSelector=a%3D%3Db%3Dc", "?fieldSelector=spec.nope%3Dx", "?resourceVersion=abc", "?limit=xyz", "?watch=true&resourceVersion=-1"] {
        let (code, status) = status_of(&cluster.curl(&["-w", "\n%{http_code}", &format!("{ns_url}{query}")]));
        assert_eq!((code, status["reason"].as_str()), (400, Some("BadRequest")), "{query}: {status}");
    }
    // Not found and conflicts.
    let (code, status) = status_of(&cluster.curl(&["-w", "\n%{http_code}", &format!("{ns_url}/nope")]));
    assert_eq!((code, status["reason"].as_str()), (404, Some("NotFound")));
    let (code, _) = post(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"}}"#, "application/json", "");
    assert_eq!(code, 201);
    let (code, status) = post(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"}}"#, "application/json", "");
    assert_eq!((code, status["reason"].as_str()), (409, Some("AlreadyExists")));
    let out = cluster.curl(&[
        "-w",
        "\n%{http_code}",
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup","resourceVersion":"1"}}"#,
        &format!("{ns_url}/dup"),
    ]);
    let (code, status) = status_of(&out);
    assert_eq!((code, status["reason"].as_str()), (409, Some("Conflict")));
    assert!(!cluster.log().contains("panicked"), "the server panicked:\n{}", cluster.log());
}

#[test]
fn service_account_tokens_authenticate_and_rbac_decides() {
    let cluster = Cluster::start(Backend::Embedded);
    let k = cluster.kubectl("1.33");
    k.ok(&["create", "namespace", "team"]);
    k.ok(&["-n", "team", "create", "serviceaccount", "robot"]);
    let token = k.ok(&["-n", "team", "create", "token", "robot"]).trim().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let curl = |path: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--insecure", "-w", "\n%{http_code}", &format!("{}{path}", cluster.url()), "--header", &format!("Authorization: Bearer {token}")])
            .output()
            .unwrap();
        status_of(&out)
    };
    let (code, body) = curl("/api");
    assert_eq!((code, body["kind"].as_str()), (200, Some("APIVersions")));
    // No binding yet: RBAC forbids, with upstream's wording.
    let (code, body) = curl("/api/v1/namespaces/team/pods");
    assert_eq!(code, 403, "{body}");
    assert!(body["message"].as_str().unwrap().contains("User \"system:serviceaccount:team:robot\" cannot list resource \"pods\""), "{body}");
    // `auth can-i` exits 1 when the answer is no.
    assert_eq!(k.run(&["-n", "team", "auth", "can-i", "list", "pods", "--as=system:serviceaccount:team:robot"]).stdout.trim(), "no");
    k.ok(&["-n", "team", "create", "rolebinding", "robot-view", "--clusterrole=view", "--serviceaccount=team:robot"]);
    assert!(support::eventually(std::time::Duration::from_secs(5), || curl("/api/v1/namespaces/team/pods").0 == 200));
    assert_eq!(k.ok(&["-n", "team", "auth", "can-i", "list", "pods", "--as=system:serviceaccount:team:robot"]).trim(), "yes");
    assert_eq!(k.run(&["-n", "team", "auth", "can-i", "delete", "pods", "--as=system:serviceaccount:team:robot"]).stdout.trim(), "no");

    // TokenReview answers for the token; a deleted account's token stops working.
    let review = format!(r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{{"token":"{token}"}}}}"#);
    let out = k.ok_stdin(&["create", "-f", "-", "-o", "json"], &review);
    let review: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(review["status"]["authenticated"], true);
    assert_eq!(review["status"]["user"]["username"], "system:serviceaccount:team:robot");
    k.ok(&["-n", "team", "delete", "serviceaccount", "robot"]);
    assert!(support::eventually(std::time::Duration::from_secs(5), || curl("/api").0 == 401));
}
