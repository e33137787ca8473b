//! RBAC's columns: roles show when they were made, bindings which role
//! they grant and (with `-o wide`) to whom, as Kubernetes' printers do.

use serde_json::{Value, json};

use super::{AGE, NAME, Printer, col, items, name, text, wide};

/// Roles and ClusterRoles: NAME and CREATED AT (the timestamp itself, not
/// an age: roles are long-lived and compared by when they appeared).
pub(super) const ROLE: Printer = Printer {
    columns: &[NAME, col("Created At", "date")],
    cells: |role| {
        vec![
            name(role),
            json!(text(role, "/metadata/creationTimestamp", "")),
        ]
    },
};

/// RoleBindings and ClusterRoleBindings: ROLE is `Kind/name`; USERS,
/// GROUPS and SERVICEACCOUNTS (`namespace/name`) only with `-o wide`.
pub(super) const BINDING: Printer = Printer {
    columns: &[
        NAME,
        col("Role", "string"),
        AGE,
        wide("Users"),
        wide("Groups"),
        wide("ServiceAccounts"),
    ],
    cells: |binding| {
        let role = format!(
            "{}/{}",
            text(binding, "/roleRef/kind", ""),
            text(binding, "/roleRef/name", "")
        );
        let of_kind = |kind: &str| -> Value {
            let names: Vec<String> = items(binding, "/subjects")
                .filter(|s| s["kind"] == kind)
                .map(|s| match (kind, text(s, "/namespace", "").as_str()) {
                    ("ServiceAccount", ns) => format!("{ns}/{}", text(s, "/name", "")),
                    _ => text(s, "/name", ""),
                })
                .collect();
            json!(names.join(", "))
        };
        vec![
            name(binding),
            json!(role),
            super::age(binding),
            of_kind("User"),
            of_kind("Group"),
            of_kind("ServiceAccount"),
        ]
    },
};

#[cfg(test)]
mod tests {
    use super::super::cells;
    use super::*;

    #[test]
    fn bindings_show_their_role_and_subjects() {
        let b = json!({"metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                         {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]});
        let c = cells("RoleBinding", b);
        assert_eq!(c[1], "ClusterRole/view");
        assert_eq!(c[3], "alice, bob");
        assert_eq!(c[4], "");
        assert_eq!(c[5], "ns/sa");
        let r = json!({"metadata": {"name": "r", "creationTimestamp": "2026-01-02T03:04:05Z"}});
        assert_eq!(cells("ClusterRole", r)[1], "2026-01-02T03:04:05Z");
    }
}
