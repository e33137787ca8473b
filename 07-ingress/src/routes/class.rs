//! Which Ingresses this controller serves.
//!
//! A cluster may run several ingress controllers. Each IngressClass names
//! one (`spec.controller`), and an Ingress picks a class with
//! `spec.ingressClassName`. An Ingress with no class goes to the class
//! marked `ingressclass.kubernetes.io/is-default-class: "true"`; the
//! older `kubernetes.io/ingress.class` annotation, which predates the
//! field, still names a class when the field is empty.

use serde_json::Value;

/// What orc's controller writes in `spec.controller` of its IngressClass.
pub const CONTROLLER: &str = "orc.dev/ingress";
/// Marks the class that Ingresses without one belong to.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";
/// The class annotation from before `spec.ingressClassName` existed.
pub const LEGACY_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// The name of orc's own IngressClass, which `orc up` creates.
pub const CLASS: &str = "orc";

/// orc's IngressClass, marked the default, so an Ingress that names no
/// class (`kubectl create ingress` without `--class`) is orc's. What an
/// installation of ingress-nginx creates beside its controller (its
/// chart's `controller.ingressClassResource.default`).
pub fn default_class() -> Value {
    serde_json::json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": CLASS, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"}},
        "spec": {"controller": CONTROLLER},
    })
}

/// The IngressClasses that belong to one controller.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    /// Names of the classes whose `spec.controller` is ours.
    classes: Vec<String>,
    /// Whether one of them is the cluster's default class.
    default: bool,
}

impl Claims {
    /// The classes among `classes` whose controller is `controller`.
    pub fn new(classes: &[Value], controller: &str) -> Claims {
        let ours: Vec<&Value> = classes
            .iter()
            .filter(|c| c.pointer("/spec/controller").and_then(Value::as_str) == Some(controller))
            .collect();
        Claims {
            classes: ours
                .iter()
                .filter_map(|c| name(c).map(String::from))
                .collect(),
            default: ours
                .iter()
                .any(|c| annotation(c, DEFAULT_CLASS_ANNOTATION) == Some("true")),
        }
    }

    // ANCHOR: claims
    /// Whether an Ingress is ours: its class (the field, else the old
    /// annotation) is one of ours, or it has none and ours is the default.
    pub fn claims(&self, ingress: &Value) -> bool {
        let field = ingress
            .pointer("/spec/ingressClassName")
            .and_then(Value::as_str);
        match field.or_else(|| annotation(ingress, LEGACY_CLASS_ANNOTATION)) {
            Some(class) if !class.is_empty() => self.classes.iter().any(|c| c == class),
            _ => self.default,
        }
    }
    // ANCHOR_END: claims
}

fn name(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/name").and_then(Value::as_str)
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")?.get(key)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class(name: &str, controller: &str, default: bool) -> Value {
        let annotations = if default {
            json!({DEFAULT_CLASS_ANNOTATION: "true"})
        } else {
            json!({})
        };
        json!({"metadata": {"name": name, "annotations": annotations}, "spec": {"controller": controller}})
    }

    #[test]
    fn a_class_of_ours_or_the_default_claims_an_ingress() {
        let named = |n: &str| json!({"spec": {"ingressClassName": n}});
        let legacy =
            json!({"metadata": {"annotations": {LEGACY_CLASS_ANNOTATION: "orc"}}, "spec": {}});
        let classless = json!({"spec": {}});
        let ours = Claims::new(
            &[
                class("orc", CONTROLLER, false),
                class("nginx", "k8s.io/ingress-nginx", true),
            ],
            CONTROLLER,
        );
        assert!(ours.claims(&named("orc")));
        assert!(!ours.claims(&named("nginx")));
        assert!(ours.claims(&legacy));
        assert!(!ours.claims(&classless));
        let default = Claims::new(&[class("orc", CONTROLLER, true)], CONTROLLER);
        assert!(default.claims(&classless));
        assert!(!default.claims(&named("other")));
    }

    #[test]
    fn orcs_default_class_claims_an_ingress_with_no_class() {
        let claims = Claims::new(&[default_class()], CONTROLLER);
        assert!(claims.claims(&json!({"spec": {}})));
        assert!(claims.claims(&json!({"spec": {"ingressClassName": CLASS}})));
    }
}
