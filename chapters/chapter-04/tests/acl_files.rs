//! Loading the ACL: the repository's files work, and broken ones are clear
//! errors naming the file (and the line).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

use chapter_03::test_pki::Files;
use chapter_04::{Authorizer, CasbinAuthorizer, OBJECT_LOG};
use common::repo;

fn message(error: chapter_04::Error, files: &Files) -> String {
    error
        .to_string()
        .replace(&files.dir.path().display().to_string(), "<dir>")
}

// The repository's ACL: root may produce and consume; nobody may do nothing.
#[tokio::test]
async fn the_repository_policy_grants_root_only() {
    let acl = CasbinAuthorizer::open(repo("policies/model.conf"), repo("policies/policy.csv"))
        .await
        .unwrap();
    for (subject, action, allowed) in [
        ("root", "produce", true),
        ("root", "consume", true),
        ("nobody", "produce", false),
        ("nobody", "consume", false),
        ("root", "delete", false),
    ] {
        assert_eq!(
            acl.authorize(subject, OBJECT_LOG, action).unwrap(),
            allowed,
            "{subject} {action}"
        );
    }
}

// A missing model or policy file is named.
#[tokio::test]
async fn missing_files_are_named() {
    let files = Files::new();
    let error = CasbinAuthorizer::open(
        files.dir.path().join("model.conf"),
        repo("policies/policy.csv"),
    )
    .await
    .unwrap_err();
    insta::assert_snapshot!(message(error, &files), @"ACL model file <dir>/model.conf: No such file or directory (os error 2)");
    let error = CasbinAuthorizer::open(
        repo("policies/model.conf"),
        files.dir.path().join("policy.csv"),
    )
    .await
    .unwrap_err();
    insta::assert_snapshot!(message(error, &files), @"ACL policy file <dir>/policy.csv: No such file or directory (os error 2)");
}

// A model that is not a model, or not an ACL of (sub, obj, act), is refused.
#[tokio::test]
async fn a_malformed_model_is_refused() {
    let files = Files::new();
    let garbage = files.write("model.conf", "this is not a casbin model\n");
    let error = CasbinAuthorizer::open(&garbage, repo("policies/policy.csv"))
        .await
        .unwrap_err();
    insta::assert_snapshot!(message(error, &files), @"ACL model file <dir>/model.conf: parse content error, line=this is not a casbin model");
    let two_fields = files.write(
        "two.conf",
        "[request_definition]\nr = sub, act\n[policy_definition]\np = sub, act\n[policy_effect]\ne = some(where (p.eft == allow))\n[matchers]\nm = r.sub == p.sub && r.act == p.act\n",
    );
    let error = CasbinAuthorizer::open(&two_fields, repo("policies/policy.csv"))
        .await
        .unwrap_err();
    insta::assert_snapshot!(message(error, &files), @"ACL model file <dir>/two.conf: the request definition has 2 fields; requests here are (sub, obj, act)");
}

// ANCHOR: malformed_line
// A malformed policy line is named by its line number.
#[tokio::test]
async fn a_malformed_policy_line_is_named() {
    let files = Files::new();
    let policy = files.write(
        "policy.csv",
        "# grants\np, root, *, produce\np, root, consume\n",
    );
    let error = CasbinAuthorizer::open(repo("policies/model.conf"), &policy)
        .await
        .unwrap_err();
    insta::assert_snapshot!(message(error, &files), @"ACL policy file <dir>/policy.csv, line 3: expected p and 3 fields, found 2 fields");
    let policy = files.write("roles.csv", "g, alice, admin\n");
    let error = CasbinAuthorizer::open(repo("policies/model.conf"), &policy)
        .await
        .unwrap_err();
    insta::assert_snapshot!(message(error, &files), @r#"ACL policy file <dir>/roles.csv, line 1: unknown rule type "g": this ACL has only "p" lines"#);
}
// ANCHOR_END: malformed_line

// ANCHOR: reload
// A reload that fails keeps the ACL in force; one that succeeds replaces it.
#[tokio::test]
async fn reload_is_all_or_nothing() {
    let files = Files::new();
    let policy = files.write("policy.csv", "p, root, *, produce\n");
    let acl = CasbinAuthorizer::open(repo("policies/model.conf"), &policy)
        .await
        .unwrap();
    files.write("policy.csv", "p, root, *\n");
    assert!(acl.reload().await.is_err());
    assert!(
        acl.authorize("root", OBJECT_LOG, "produce").unwrap(),
        "the old policy is still in force"
    );
    files.write("policy.csv", "p, nobody, *, produce\n");
    acl.reload().await.unwrap();
    assert!(!acl.authorize("root", OBJECT_LOG, "produce").unwrap());
    assert!(acl.authorize("nobody", OBJECT_LOG, "produce").unwrap());
}
// ANCHOR_END: reload

// An empty policy allows nothing, not even an empty request.
#[tokio::test]
async fn an_empty_policy_allows_nothing() {
    let files = Files::new();
    let policy = files.write("policy.csv", "# nobody may do anything\n");
    let acl = CasbinAuthorizer::open(repo("policies/model.conf"), &policy)
        .await
        .unwrap();
    assert!(!acl.authorize("", "", "").unwrap());
    assert!(!acl.authorize("root", OBJECT_LOG, "produce").unwrap());
}
