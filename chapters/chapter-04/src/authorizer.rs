//! Who may do what: the [`Authorizer`] trait, and an ACL behind it loaded
//! into casbin.
//!
//! casbin separates the *model* (the shape of a rule and how requests match
//! rules: here an ACL of subject, object, action) from the *policy* (the
//! rules themselves). Switching to role-based access control later is
//! mostly a change to the model file (roles are `g` lines, which
//! `check_policy` would then have to accept too).
//!
//! casbin accepts policy lines with missing fields without a word and then
//! fails, or worse, at request time; this loader checks every line against
//! the model first and names the line that is wrong.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use casbin::{CoreApi, DefaultModel, Enforcer, Model, StringAdapter};

use crate::error::{Error, Result};

/// The object of every request for now: the server has one log.
pub const OBJECT_LOG: &str = "*";

// ANCHOR: trait
/// Decides whether `subject` may perform `action` on `object`.
pub trait Authorizer: Send + Sync + 'static {
    /// `Ok(true)` when allowed, `Ok(false)` when not.
    ///
    /// # Errors
    /// [`Error::Enforcement`] when the decision cannot be made; callers must
    /// treat that as a refusal.
    fn authorize(&self, subject: &str, object: &str, action: &str) -> Result<bool>;
}
// ANCHOR_END: trait

// ANCHOR: casbin
/// An ACL in casbin, loaded from a model file and a policy file, and
/// reloadable while requests are being served.
pub struct CasbinAuthorizer {
    model_path: PathBuf,
    policy_path: PathBuf,
    /// The current enforcer. A reload builds a complete new one and swaps it
    /// in: every request sees the old policy or the new one, never a mix,
    /// an empty one, or none.
    enforcer: RwLock<Arc<Enforcer>>,
}
// ANCHOR_END: casbin

impl std::fmt::Debug for CasbinAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CasbinAuthorizer")
            .field("model_path", &self.model_path)
            .field("policy_path", &self.policy_path)
            .finish_non_exhaustive()
    }
}

impl CasbinAuthorizer {
    // ANCHOR: open
    /// Loads the ACL from `model_path` and `policy_path`.
    ///
    /// # Errors
    /// [`Error::File`] when a file cannot be read, [`Error::Model`] when the
    /// model is not an ACL casbin can evaluate, [`Error::Policy`] naming the
    /// first malformed policy line.
    pub async fn open(
        model_path: impl AsRef<Path>,
        policy_path: impl AsRef<Path>,
    ) -> Result<CasbinAuthorizer> {
        let (model_path, policy_path) = (
            model_path.as_ref().to_path_buf(),
            policy_path.as_ref().to_path_buf(),
        );
        let enforcer = load(&model_path, &policy_path).await?;
        Ok(CasbinAuthorizer {
            model_path,
            policy_path,
            enforcer: RwLock::new(Arc::new(enforcer)),
        })
    }
    // ANCHOR_END: open

    // ANCHOR: reload
    /// Reads both files again and, if they load, replaces the ACL in one
    /// step. If they do not, the ACL in force stays, and the error says why.
    ///
    /// # Errors
    /// As [`CasbinAuthorizer::open`].
    pub async fn reload(&self) -> Result<()> {
        let enforcer = Arc::new(load(&self.model_path, &self.policy_path).await?);
        let mut current = self
            .enforcer
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let previous = std::mem::replace(&mut *current, enforcer);
        drop(current);
        // The old enforcer is freed here, after the lock: requests never wait for it.
        drop(previous);
        Ok(())
    }
    // ANCHOR_END: reload

    /// The model file.
    pub fn model_path(&self) -> &Path {
        &self.model_path
    }

    /// The policy file.
    pub fn policy_path(&self) -> &Path {
        &self.policy_path
    }
}

// ANCHOR: authorize
impl Authorizer for CasbinAuthorizer {
    fn authorize(&self, subject: &str, object: &str, action: &str) -> Result<bool> {
        // casbin matches an all-empty request against an empty policy: an
        // empty name is never anybody.
        if subject.is_empty() || object.is_empty() || action.is_empty() {
            return Ok(false);
        }
        // Hold the lock only to clone the Arc: a reload never waits for a
        // request, and a request never waits for a reload to parse files.
        let enforcer = Arc::clone(
            &self
                .enforcer
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        enforcer
            .enforce((subject, object, action))
            .map_err(|error| Error::Enforcement(error.to_string()))
    }
}
// ANCHOR_END: authorize

// ANCHOR: load
async fn load(model_path: &Path, policy_path: &Path) -> Result<Enforcer> {
    let model_text = read(model_path, "ACL model")?;
    let policy_text = read(policy_path, "ACL policy")?;
    let model_error = |reason: String| Error::Model {
        path: model_path.to_path_buf(),
        reason,
    };
    let model = DefaultModel::from_str(&model_text)
        .await
        .map_err(|error| model_error(casbin_reason(error)))?;
    let request_fields =
        fields(&model, "r").ok_or_else(|| model_error("no [request_definition] \"r\"".into()))?;
    if request_fields != 3 {
        return Err(model_error(format!(
            "the request definition has {request_fields} fields; requests here are (sub, obj, act)"
        )));
    }
    let policy_fields =
        fields(&model, "p").ok_or_else(|| model_error("no [policy_definition] \"p\"".into()))?;
    check_policy(&policy_text, policy_fields, policy_path)?;
    // The policy text was read once: what was checked is what is loaded.
    Enforcer::new(model, StringAdapter::new(policy_text))
        .await
        .map_err(|error| model_error(casbin_reason(error)))
}
// ANCHOR_END: load

/// casbin's error without its wrapping ("Casbin Io Error: `Custom { .. }`").
fn casbin_reason(error: casbin::Error) -> String {
    match error {
        casbin::Error::IoError(error) => error.to_string(),
        casbin::Error::ModelError(error) => error.to_string(),
        other => other.to_string(),
    }
}

fn read(path: &Path, what: &'static str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::File {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// How many fields the model's definition of `key` ("r" or "p") has.
fn fields(model: &DefaultModel, key: &str) -> Option<usize> {
    Some(model.get_model().get(key)?.get(key)?.tokens.len())
}

// ANCHOR: check_policy
/// Checks that every policy line is `p, field, field, ...` with exactly the
/// fields the model defines, none of them empty.
fn check_policy(text: &str, fields: usize, path: &Path) -> Result<()> {
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let problem = |reason: String| Error::Policy {
            path: path.to_path_buf(),
            line: number + 1,
            reason,
        };
        let tokens: Vec<&str> = line.split(',').map(str::trim).collect();
        if tokens[0] != "p" {
            return Err(problem(format!(
                "unknown rule type {:?}: this ACL has only \"p\" lines",
                tokens[0]
            )));
        }
        if tokens.len() != fields + 1 {
            return Err(problem(format!(
                "expected p and {fields} fields, found {} fields",
                tokens.len() - 1
            )));
        }
        if tokens
            .iter()
            .any(|token| token.is_empty() || token.contains('"'))
        {
            return Err(problem("a field is empty or quoted".to_string()));
        }
    }
    Ok(())
}
// ANCHOR_END: check_policy
