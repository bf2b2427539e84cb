//! The output chapter 4 of the book shows, made for real and compared with
//! the files in `tests/output/` (see `tests/support/book_output.rs` at the
//! root of the repository): the errors for broken ACL files, and a denial as
//! a client decodes it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

mod common;

#[path = "../../../tests/support/book_output.rs"]
mod book_output;

use std::collections::BTreeMap;

use chapter_03::test_pki::Files;
use chapter_04::CasbinAuthorizer;
use common::{AclServer, cert, produce_request, repo};
use tonic_types::StatusExt;

/// Compares `actual` with `tests/output/NAME.txt`.
fn assert_output(name: &str, actual: &str) {
    book_output::assert_output(env!("CARGO_MANIFEST_DIR"), name, actual);
}

// Each broken ACL file gives the error the book shows, naming the file (and
// the line): a model and a policy that do not exist, a model that is not a
// casbin model, a model of two fields, a policy line with a field missing
// (line 3; the first is a comment), and an RBAC line in an ACL.
#[tokio::test]
async fn book_shows_the_errors_for_broken_acl_files() {
    let files = Files::new();
    let dir = files.dir.path();
    let model = repo("policies/model.conf");
    let policy = repo("policies/policy.csv");
    let not_a_model = files.write("model.conf", "this is not a casbin model\n");
    let two_fields = files.write(
        "two.conf",
        "[request_definition]\nr = sub, act\n[policy_definition]\np = sub, act\n\
         [policy_effect]\ne = some(where (p.eft == allow))\n\
         [matchers]\nm = r.sub == p.sub && r.act == p.act\n",
    );
    let missing_field = files.write(
        "policy.csv",
        "# grants\np, root, *, produce\np, root, consume\n",
    );
    let roles = files.write("roles.csv", "g, alice, admin\n");

    let cases = [
        (dir.join("missing-model.conf"), policy.clone()),
        (model.clone(), dir.join("missing-policy.csv")),
        (not_a_model, policy.clone()),
        (two_fields, policy),
        (model.clone(), missing_field),
        (model, roles),
    ];
    let mut lines = Vec::new();
    for (model, policy) in cases {
        let error = CasbinAuthorizer::open(&model, &policy).await.unwrap_err();
        lines.push(
            error
                .to_string()
                .replace(&dir.display().to_string(), "<dir>"),
        );
    }
    assert_output("broken_acl_files", &lines.join("\n"));
}

// What `nobody` is told when it tries to produce, as a client program
// decodes it: the code, the message and every detail.
#[tokio::test]
async fn book_shows_a_denial_as_the_client_decodes_it() {
    let server = AclServer::start(&cert("ca.pem")).await;
    let status = server
        .cfssl_client("nobody")
        .await
        .produce(produce_request("x"))
        .await
        .unwrap_err();
    let details = status.get_error_details();
    let info = details.error_info().unwrap();
    let metadata: BTreeMap<_, _> = info.metadata.iter().collect();
    let message = details.localized_message().unwrap();
    let decoded = format!(
        "code: {:?}\nmessage: {}\nerror_info: reason={} domain={} metadata={metadata:?}\n\
         localized_message: [{}] {}",
        status.code(),
        status.message(),
        info.reason,
        info.domain,
        message.locale,
        message.message
    );
    assert_output("denial", &decoded);
}
