//! Printers of the `rbac.authorization.k8s.io` group: upstream's printRoleBinding and
//! printClusterRoleBinding. Roles and cluster roles have no printer upstream; they use the
//! default table convertor.

use serde_json::Value;

use super::docs;
use super::util::{arr, name, str_at, Ctx};
use super::{Column, ColumnsFn, Printer, Row, RowFn};

pub(crate) fn printer(plural: &str) -> Option<Printer> {
    let (columns, row): (ColumnsFn, RowFn) = match plural {
        "rolebindings" => (role_binding_columns, binding_row),
        "clusterrolebindings" => (cluster_role_binding_columns, binding_row),
        _ => return None,
    };
    Some(Printer { columns, row })
}

fn role_binding_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Role", docs::ROLE_BINDING_ROLE_REF),
        Column::age(),
        Column::string("Users", "Users in the roleBinding").wide(),
        Column::string("Groups", "Groups in the roleBinding").wide(),
        Column::string("ServiceAccounts", "ServiceAccounts in the roleBinding").wide(),
    ]
}

fn cluster_role_binding_columns() -> Vec<Column> {
    vec![
        Column::name(),
        Column::string("Role", docs::CLUSTER_ROLE_BINDING_ROLE_REF),
        Column::age(),
        Column::string("Users", "Users in the clusterRoleBinding").wide(),
        Column::string("Groups", "Groups in the clusterRoleBinding").wide(),
        Column::string("ServiceAccounts", "ServiceAccounts in the clusterRoleBinding").wide(),
    ]
}

/// `rbac.SubjectsStrings`: users, groups and `namespace/name` service accounts; subjects of
/// other kinds are not shown.
fn subjects(binding: &Value) -> (Vec<&str>, Vec<&str>, Vec<String>) {
    let (mut users, mut groups, mut service_accounts) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr(binding, &["subjects"]) {
        let subject_name = str_at(subject, &["name"]);
        match str_at(subject, &["kind"]) {
            "ServiceAccount" => service_accounts.push(format!("{}/{subject_name}", str_at(subject, &["namespace"]))),
            "User" => users.push(subject_name),
            "Group" => groups.push(subject_name),
            _ => {}
        }
    }
    (users, groups, service_accounts)
}

/// The row of a RoleBinding or a ClusterRoleBinding, which upstream prints alike.
fn binding_row(binding: &Value, ctx: &Ctx) -> Row {
    let role = format!("{}/{}", str_at(binding, &["roleRef", "kind"]), str_at(binding, &["roleRef", "name"]));
    let (users, groups, service_accounts) = subjects(binding);
    Row::new(vec![name(binding).into(), role.into(), ctx.age(binding), users.join(", ").into(), groups.join(", ").into(), service_accounts.join(", ").into()])
}

// Expectations from upstream's pkg/printers/internalversion/printers_test.go
// (TestPrintRoleBinding, TestPrintClusterRoleBinding).
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SOON: &str = "2023-11-14T22:13:21Z"; // 1s after now: "0s"

    fn cells(obj: Value) -> Vec<Value> {
        binding_row(&obj, &Ctx::new(1_700_000_000)).cells
    }

    #[test]
    fn basic_binding() {
        let b = json!({"metadata": {"name": "binding1", "creationTimestamp": SOON},
            "subjects": [{"kind": "User", "name": "system:kube-controller-manager"}],
            "roleRef": {"kind": "Role", "name": "extension-apiserver-authentication-reader"}});
        assert_eq!(cells(b)[..3], json!(["binding1", "Role/extension-apiserver-authentication-reader", "0s"]).as_array().unwrap()[..]);
    }

    #[test]
    fn wide_binding_lists_subjects() {
        let b = json!({"metadata": {"name": "binding2", "creationTimestamp": SOON},
            "subjects": [
                {"kind": "User", "name": "user-name"},
                {"kind": "Group", "name": "group-name"},
                {"kind": "ServiceAccount", "name": "service-account-name", "namespace": "service-account-namespace"},
                {"kind": "Robot", "name": "ignored"},
                {"kind": "User", "name": "second-user"},
            ],
            "roleRef": {"kind": "ClusterRole", "name": "role-name"}});
        assert_eq!(
            cells(b),
            json!(["binding2", "ClusterRole/role-name", "0s", "user-name, second-user", "group-name", "service-account-namespace/service-account-name"])
                .as_array()
                .unwrap()
                .clone()
        );
    }

    #[test]
    fn columns_differ_only_in_descriptions() {
        let (rb, crb) = (role_binding_columns(), cluster_role_binding_columns());
        assert_eq!(rb.len(), 6);
        for (a, b) in rb.iter().zip(&crb) {
            assert_eq!((a.name, a.priority), (b.name, b.priority));
        }
        assert_eq!(crb[5].description, "ServiceAccounts in the clusterRoleBinding");
        assert!(printer("roles").is_none());
        assert!(printer("clusterroles").is_none());
    }

    #[test]
    fn empty_binding() {
        assert_eq!(cells(json!({})), json!(["", "/", "<unknown>", "", "", ""]).as_array().unwrap().clone());
    }
}
