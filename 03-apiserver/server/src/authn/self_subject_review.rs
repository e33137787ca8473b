//! SelfSubjectReview (authentication.k8s.io/v1): "who am I?", answered
//! with the user authentication found. It is what `kubectl auth whoami`
//! asks, and the quickest way to see what a client certificate's CN and O
//! became.

use axum::Extension;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::UserInfo;

// ANCHOR: review
/// The review of `user`, as kube-apiserver writes it: the request's own
/// body is ignored (it has no fields to fill in), and nothing is stored.
pub fn review(user: &UserInfo) -> Value {
    let mut info = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = json!(user.uid);
    }
    json!({
        "kind": "SelfSubjectReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "status": {"userInfo": info},
    })
}
// ANCHOR_END: review

/// `POST /apis/authentication.k8s.io/v1/selfsubjectreviews`: 201 with the
/// review, as a create answers.
pub async fn create(Extension(user): Extension<UserInfo>) -> Response {
    (axum::http::StatusCode::CREATED, axum::Json(review(&user))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_review_names_the_user_and_leaves_out_an_empty_uid() {
        let user = UserInfo::authenticated("system:node:n1", "", &["system:nodes"]);
        let review = review(&user);
        assert_eq!(review["status"]["userInfo"]["username"], "system:node:n1");
        assert_eq!(
            review["status"]["userInfo"]["groups"],
            json!(["system:nodes", "system:authenticated"])
        );
        assert!(review["status"]["userInfo"].get("uid").is_none());
    }
}
