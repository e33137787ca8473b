//! Service account tokens: JWTs the API server signs and later believes.
//!
//! A ServiceAccount is an identity for software: a pod runs as one, and
//! the API server proves it by handing the pod a token. Since Kubernetes
//! 1.22 those tokens are *bound*: a JSON Web Token (RFC 7519) with an
//! audience, an expiry and, when asked for a pod, the pod's name and uid,
//! signed with the API server's service account key (`sa.key`; its public
//! half `sa.pub` is what anyone checks signatures with). The token carries
//! everything needed to check its signature and dates without a lookup;
//! the API server then also checks that the ServiceAccount and pod it
//! names still exist with the same uids, so deleting either revokes it.
//!
//! A token is three base64url parts joined by dots: a header
//! (`{"alg":"ES256","kid":...}`), the claims, and the signature over the
//! first two. orc signs with ECDSA P-256 (`ES256`), the key rcgen makes
//! for the cluster PKI; kubeadm's `sa.key` is RSA (`RS256`), and
//! kube-apiserver accepts both. This file is the pure part: claims, sign,
//! verify (time is an argument); `token_request.rs` serves them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};

use super::UserInfo;

/// The issuer kube-apiserver is usually given
/// (`--service-account-issuer`), and so the default audience: tokens are
/// for the API server unless a TokenRequest names others.
pub const DEFAULT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Every service account's user is in this group...
pub const ALL_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";

/// The prefix of a service account's user name.
pub const USER_PREFIX: &str = "system:serviceaccount:";

/// The claims of a bound token, with Kubernetes' names. Serialized in this
/// (alphabetical) order, as kube-apiserver's tokens read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Audiences: who the token is for. The API server accepts only
    /// tokens naming one of its own audiences.
    pub aud: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Issuer: the API server's `--service-account-issuer`.
    pub iss: String,
    /// A unique id for this token, for audit logs.
    #[serde(default)]
    pub jti: String,
    /// What the token is bound to.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: Bound,
    /// Not before: equal to `iat`.
    pub nbf: i64,
    /// Subject: `system:serviceaccount:<namespace>:<name>`.
    pub sub: String,
}

/// The private claim `kubernetes.io`: the objects a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bound {
    /// The ServiceAccount's namespace.
    pub namespace: String,
    /// The ServiceAccount.
    pub serviceaccount: ObjectRef,
    /// The pod the token was requested for, if any: the token dies with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<ObjectRef>,
    /// The Secret the token was requested for, if any (the token
    /// controller's long-lived tokens): the token dies with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ObjectRef>,
}

/// A name and the uid it had when the token was made: a new object with
/// the same name is not the one the token was for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

impl Claims {
    /// The user a token with these claims authenticates as.
    pub fn user(&self) -> UserInfo {
        let ns = &self.kubernetes.namespace;
        UserInfo::authenticated(
            &format!("{USER_PREFIX}{ns}:{}", self.kubernetes.serviceaccount.name),
            &self.kubernetes.serviceaccount.uid,
            &[
                ALL_SERVICE_ACCOUNTS,
                &format!("{ALL_SERVICE_ACCOUNTS}:{ns}"),
            ],
        )
    }
}

/// Why a token was not accepted. `NotOurs` means "some other issuer's
/// JWT": the next authenticator may know it; every other error refuses it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a service account token of this issuer")]
    NotOurs,
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's audiences {0:?} are not accepted")]
    WrongAudience(Vec<String>),
    /// The ServiceAccount or pod it is bound to is gone (or was replaced).
    #[error("{0}")]
    Revoked(String),
}

/// How far in the future `nbf` may be: clocks differ a little (go-jose,
/// which kube-apiserver uses, allows a minute).
const LEEWAY_SECONDS: i64 = 60;

/// The service account key: signs tokens and checks them.
pub struct TokenKeys {
    /// The private key (PKCS#8, P-256).
    signer: EcdsaKeyPair,
    /// The header's `kid`: base64url of the SHA-256 of the public key's
    /// DER, as kube-apiserver derives it, so a verifier with several keys
    /// knows which one to try.
    kid: String,
    /// `iss` of every token made, and checked on every token read.
    issuer: String,
    /// The audiences the API server itself accepts (`--api-audiences`;
    /// by default, the issuer).
    audiences: Vec<String>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Why the key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not a PEM private key: {0}")]
    Pem(rcgen::Error),
    #[error(
        "the service account key must be an ECDSA P-256 key (tokens are signed ES256); \
         remove it and orc makes one, or make one with \
         `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`"
    )]
    NotP256,
}

impl TokenKeys {
    /// The key in `key_pem` (PKCS#8 PEM, what `sa.key` holds), issuing as
    /// `issuer` for the API server's own audience (the issuer).
    pub fn from_pem(key_pem: &str, issuer: &str) -> Result<TokenKeys, KeyError> {
        let pair = rcgen::KeyPair::from_pem(key_pem).map_err(KeyError::Pem)?;
        if !pair.is_compatible(&rcgen::PKCS_ECDSA_P256_SHA256) {
            return Err(KeyError::NotP256);
        }
        let rng = ring::rand::SystemRandom::new();
        let signer = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &pair.serialize_der(),
            &rng,
        )
        .map_err(|_| KeyError::NotP256)?;
        let spki = rcgen::PublicKeyData::subject_public_key_info(&pair);
        let kid = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &spki));
        Ok(TokenKeys {
            signer,
            kid,
            issuer: issuer.into(),
            audiences: vec![issuer.into()],
        })
    }

    /// `iss` of the tokens this key makes.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audiences the API server accepts.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    // ANCHOR: sign
    /// The token for `claims`: header, claims and signature, each
    /// base64url without padding, joined with dots (JWS compact form).
    pub fn sign(&self, claims: &Claims) -> String {
        let header = serde_json::json!({"alg": "ES256", "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default()),
        );
        let rng = ring::rand::SystemRandom::new();
        // Signing fails only when the system's randomness does; a token
        // with an empty signature is then refused by every verifier.
        let signature = self
            .signer
            .sign(&rng, signing_input.as_bytes())
            .map(|s| URL_SAFE_NO_PAD.encode(s.as_ref()))
            .unwrap_or_default();
        format!("{signing_input}.{signature}")
    }
    // ANCHOR_END: sign

    // ANCHOR: verify
    /// The claims of `token` if this key signed it, it is for one of
    /// `audiences`, and it is valid at `now` (seconds since the epoch).
    /// Whether what it is bound to still exists is the caller's check.
    pub fn verify(
        &self,
        token: &str,
        audiences: &[String],
        now: i64,
    ) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::NotOurs);
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| TokenError::NotOurs)
        };
        let claims: serde_json::Value =
            serde_json::from_slice(&decode(payload)?).map_err(|_| TokenError::NotOurs)?;
        // Another issuer's JWT is not an error here: not ours to judge.
        if claims.get("iss").and_then(|i| i.as_str()) != Some(self.issuer.as_str()) {
            return Err(TokenError::NotOurs);
        }
        let header: serde_json::Value = serde_json::from_slice(&decode(header)?)
            .map_err(|_| TokenError::Malformed("header"))?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("ES256") {
            return Err(TokenError::Malformed("alg is not ES256"));
        }
        let public = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.signer.public_key().as_ref(),
        );
        let signed = &token[..header_len(token, payload)];
        public
            .verify(signed.as_bytes(), &decode(sig)?)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: Claims =
            serde_json::from_value(claims).map_err(|_| TokenError::Malformed("claims"))?;
        if now >= claims.exp {
            return Err(TokenError::Expired);
        }
        if now + LEEWAY_SECONDS < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        if !claims.aud.iter().any(|a| audiences.contains(a)) {
            return Err(TokenError::WrongAudience(claims.aud));
        }
        Ok(claims)
    }
    // ANCHOR_END: verify
}

/// The length of `header.payload`, the signed part of `token`.
fn header_len(token: &str, payload: &str) -> usize {
    token.find('.').unwrap_or(0) + 1 + payload.len()
}

/// A new service account key, PKCS#8 PEM (what `sa.key` holds).
pub fn generate_key_pem() -> Result<String, rcgen::Error> {
    Ok(rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?.serialize_pem())
}

/// The public half of `key_pem`, PEM (what `sa.pub` holds: what anyone
/// checks a token's signature with).
pub fn public_key_pem(key_pem: &str) -> Result<String, rcgen::Error> {
    Ok(rcgen::KeyPair::from_pem(key_pem)?.public_key_pem())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_pem(&generate_key_pem().unwrap(), DEFAULT_ISSUER).unwrap()
    }

    fn claims(now: i64) -> Claims {
        Claims {
            aud: vec![DEFAULT_ISSUER.into()],
            exp: now + 3600,
            iat: now,
            iss: DEFAULT_ISSUER.into(),
            jti: "j".into(),
            kubernetes: Bound {
                namespace: "team".into(),
                serviceaccount: ObjectRef {
                    name: "robot".into(),
                    uid: "sa-uid".into(),
                },
                pod: Some(ObjectRef {
                    name: "web".into(),
                    uid: "pod-uid".into(),
                }),
                secret: None,
            },
            nbf: now,
            sub: "system:serviceaccount:team:robot".into(),
        }
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_signed_token_verifies_and_names_its_service_account() {
        let keys = keys();
        let token = keys.sign(&claims(NOW));
        let read = keys.verify(&token, keys.audiences(), NOW + 10).unwrap();
        assert_eq!(read, claims(NOW));
        let user = read.user();
        assert_eq!(user.name, "system:serviceaccount:team:robot");
        assert_eq!(user.uid, "sa-uid");
        assert_eq!(
            user.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:team",
                "system:authenticated"
            ]
        );
    }

    #[test]
    fn the_token_is_three_base64url_parts_with_kubernetes_claims() {
        let token = keys().sign(&claims(NOW));
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert!(header["kid"].as_str().is_some_and(|k| k.len() == 43));
        let body: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(body["kubernetes.io"]["serviceaccount"]["name"], "robot");
        assert_eq!(body["kubernetes.io"]["pod"]["uid"], "pod-uid");
        assert_eq!(body["sub"], "system:serviceaccount:team:robot");
    }

    #[test]
    fn expired_early_tampered_and_foreign_tokens_are_refused() {
        let keys = keys();
        let token = keys.sign(&claims(NOW));
        let aud = keys.audiences();
        assert_eq!(
            keys.verify(&token, aud, NOW + 3600),
            Err(TokenError::Expired)
        );
        assert_eq!(
            keys.verify(&token, aud, NOW - 61),
            Err(TokenError::NotYetValid)
        );
        assert!(keys.verify(&token, aud, NOW - 60).is_ok());
        assert_eq!(
            keys.verify(&token, &["vault".into()], NOW),
            Err(TokenError::WrongAudience(vec![DEFAULT_ISSUER.into()]))
        );
        // Another key with the same issuer: the signature does not hold.
        let other = self::keys().sign(&claims(NOW));
        assert_eq!(keys.verify(&other, aud, NOW), Err(TokenError::BadSignature));
        // Claims swapped under the original signature.
        let mut forged = claims(NOW);
        forged.kubernetes.namespace = "kube-system".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(
            keys.verify(&forged, aud, NOW),
            Err(TokenError::BadSignature)
        );
        // Not a JWT, or another issuer's: for the next authenticator.
        assert_eq!(
            keys.verify("static-token", aud, NOW),
            Err(TokenError::NotOurs)
        );
        let mut foreign = claims(NOW);
        foreign.iss = "https://accounts.example.com".into();
        let foreign = keys.sign(&foreign);
        assert_eq!(keys.verify(&foreign, aud, NOW), Err(TokenError::NotOurs));
    }

    #[test]
    fn only_p256_keys_are_accepted() {
        let rsa_like = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        assert!(matches!(
            TokenKeys::from_pem(&rsa_like.serialize_pem(), DEFAULT_ISSUER),
            Err(KeyError::NotP256)
        ));
        assert!(TokenKeys::from_pem("junk", DEFAULT_ISSUER).is_err());
        let pem = generate_key_pem().unwrap();
        assert!(
            public_key_pem(&pem)
                .unwrap()
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
    }
}
