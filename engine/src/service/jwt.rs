//! Bearer JWTs from the municipality's identity provider, verified against
//! its published keys (a JWKS document), with claims mapped to an access
//! level, processes and roles.
//!
//! The mapping (documented in the README):
//! - the signature must be RS256 or ES256 by a key of the JWKS (its `kid`
//!   when the token names one); `exp` is required; `iss` and `aud` must
//!   match when the service was given them;
//! - `ravand_access`: `analyst`, `clerk`, `auditor` or `admin` (required);
//! - `ravand_processes`: the processes a clerk starts, reads and messages;
//! - `ravand_roles`: `process/role` (or `process/*`) whose tasks it works;
//! - the user recorded in history is `preferred_username`, else `sub`.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::{Access, Caller, Token, Verifier};

/// A verifier of the identity provider's JWTs.
pub struct JwtVerifier {
    keys: Vec<(Option<String>, Algorithm, DecodingKey)>,
    issuer: Option<String>,
    audience: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    exp: Option<i64>,
    sub: Option<String>,
    preferred_username: Option<String>,
    ravand_access: Access,
    #[serde(default)]
    ravand_processes: Vec<String>,
    #[serde(default)]
    ravand_roles: Vec<String>,
}

impl JwtVerifier {
    /// A verifier for the keys of a JWKS document (JSON text). Keys that are
    /// not RSA or P-256 signing keys are refused.
    pub fn from_jwks(text: &str, issuer: Option<String>, audience: Option<String>) -> Result<JwtVerifier, String> {
        let set: JwkSet = serde_json::from_str(text).map_err(|e| format!("the JWKS does not read: {e}"))?;
        let mut keys = Vec::new();
        for k in &set.keys {
            let alg = match &k.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(p)
                    if p.curve == jsonwebtoken::jwk::EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                _ => return Err("a JWKS key is neither RSA nor EC P-256 (only RS256 and ES256 are accepted)".into()),
            };
            let key = DecodingKey::from_jwk(k).map_err(|e| format!("a JWKS key does not read: {e}"))?;
            keys.push((k.common.key_id.clone(), alg, key));
        }
        if keys.is_empty() {
            return Err("the JWKS has no keys".into());
        }
        Ok(JwtVerifier { keys, issuer, audience })
    }
}

impl Verifier for JwtVerifier {
    fn verify(&self, token: &str) -> Option<Caller> {
        self.verify_until(token).map(|(c, _)| c)
    }

    fn verify_until(&self, token: &str) -> Option<(Caller, Option<i64>)> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return None;
        }
        let candidates = self.keys.iter().filter(|(kid, alg, _)| {
            *alg == header.alg && (header.kid.is_none() || kid.as_deref() == header.kid.as_deref())
        });
        for (_, alg, key) in candidates {
            let mut v = Validation::new(*alg);
            v.set_required_spec_claims(&["exp"]);
            match &self.issuer {
                Some(i) => v.set_issuer(&[i]),
                None => v.iss = None,
            }
            match &self.audience {
                Some(a) => v.set_audience(&[a]),
                None => v.validate_aud = false,
            }
            let Ok(data) = jsonwebtoken::decode::<Claims>(token, key, &v) else {
                continue;
            };
            let c = data.claims;
            let user = c.preferred_username.or(c.sub)?;
            let entry = Token {
                sha256: String::new(),
                access: c.ravand_access,
                user,
                processes: c.ravand_processes,
                roles: c
                    .ravand_roles
                    .into_iter()
                    .filter(|r| r.split_once('/').is_some_and(|(p, x)| !p.is_empty() && !x.is_empty()))
                    .collect(),
            };
            return Some((Caller::of(&entry), c.exp));
        }
        None
    }
}
