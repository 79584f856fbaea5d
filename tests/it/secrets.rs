//! Secret fingerprints in state: salted Argon2id (slow to guess offline), stable across
//! plans and re-applies, and the lineage-keyed HMACs of older states still compare.

use fgform::plan::{diff, render};
use fgform::state;

use crate::context::{TestContext, HANDLER};

const SECRET: &str = "correct-horse-battery";

fn stack_yaml(password: &str) -> String {
    format!(
        "stack: vault\nfunctions:\n  hello:\n    runtime: Python3.9\n    handler: index.handler\n    code: ./hello\n    secrets:\n      DB_PASSWORD: {password}\n"
    )
}

/// What `encrypted_user_data` carries for `stack_yaml(password)`.
fn secret_json(password: &str) -> String {
    format!("{{\"DB_PASSWORD\":\"{password}\"}}")
}

fn recorded(s: &TestContext) -> String {
    s.state().resources["function.hello"]
        .private
        .get("secrets_hmac")
        .and_then(|v| v.as_str().map(str::to_string))
        .expect("a secret fingerprint is recorded")
}

#[tokio::test]
async fn a_recorded_secret_is_a_salted_argon2id_fingerprint_not_the_lineage_hmac() {
    let s = TestContext::with_files(&[("stack.yaml", &stack_yaml(SECRET)), ("hello/index.py", HANDLER)]).await;
    s.apply_converges().await;
    let fingerprint = recorded(&s);
    let lineage = s.state().lineage;
    let plain = secret_json(SECRET);
    assert!(diff::secret_matches(&fingerprint, &plain, &lineage), "{fingerprint}");
    // The key stored beside it no longer opens it: a word list needs the KDF per guess.
    assert_ne!(fingerprint, diff::secret_hmac(&lineage, &plain));
    assert!(!fingerprint.contains(&lineage));
    let phc = argon2::password_hash::PasswordHash::new(&fingerprint).expect("a PHC string");
    assert_eq!(phc.algorithm.as_str(), "argon2id");
    let params = argon2::Params::try_from(&phc).unwrap();
    assert!(params.m_cost() >= 32 * 1024 && params.t_cost() >= 2, "{fingerprint}");
    assert!(phc.salt.is_some_and(|salt| salt.len() >= 16), "{fingerprint}");

    // Re-applying an unchanged stack keeps the very same fingerprint (no churn) …
    s.apply_converges().await;
    assert_eq!(recorded(&s), fingerprint);
    // … and a changed secret plans an update of it.
    s.write("stack.yaml", &stack_yaml("another-password"));
    let plan = s.plan().await;
    assert_eq!(plan.changes.len(), 1, "{}", render::text(&plan));
    assert!(
        plan.changes[0].changed.iter().any(|a| a.path == "encrypted_user_data"),
        "{}",
        render::text(&plan)
    );
}

#[tokio::test]
async fn a_legacy_lineage_hmac_still_compares_and_is_upgraded_when_the_function_is_written() {
    let s = TestContext::with_files(&[("stack.yaml", &stack_yaml(SECRET)), ("hello/index.py", HANDLER)]).await;
    s.apply().await;
    // Rewrite the record as an older fgform kept it: the HMAC keyed by the lineage.
    let mut old = s.state();
    let legacy = diff::secret_hmac(&old.lineage, &secret_json(SECRET));
    old.resources
        .get_mut("function.hello")
        .unwrap()
        .private
        .insert("secrets_hmac", legacy.clone().into());
    state::save(&s.state_path, &mut old).unwrap();

    let plan = s.plan().await;
    assert!(
        plan.is_empty(),
        "an unchanged secret is no change:\n{}",
        render::text(&plan)
    );

    // The next write of the function records the slow fingerprint instead.
    s.write(
        "stack.yaml",
        &stack_yaml(SECRET).replace("handler: index.handler", "handler: index.handler\n    memory: 256"),
    );
    s.apply_converges().await;
    let upgraded = recorded(&s);
    assert_ne!(upgraded, legacy);
    assert!(upgraded.starts_with("$argon2id$"), "{upgraded}");
    assert!(diff::secret_matches(&upgraded, &secret_json(SECRET), "unused"));
}
