//! Configuration errors and help, through the real binary.

use crate::embedded::{BIN, DataDir, free_port};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn help_lists_the_subcommands_and_their_settings() {
    let out = std::process::Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "migrate", "db", "--database-url", "--data-dir", "[env: LOTLINE_DATA_DIR=]"] {
        assert!(text.contains(word), "--help mentions {word}:\n{text}");
    }
    let out = std::process::Command::new(BIN).args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--demo") && text.contains("[default: 127.0.0.1:8080]"), "{text}");
}

#[test]
fn a_malformed_listen_address_is_refused_before_anything_starts() {
    let data = DataDir::new();
    let out = data.lotline(&["serve"]).env("LOTLINE_LISTEN", "localhost-8080").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("invalid value 'localhost-8080'"), "{}", stderr(&out));
    assert!(!data.0.join("postgres").exists(), "no database was started");
}

#[test]
fn a_port_already_taken_is_reported_without_starting_the_database() {
    let data = DataDir::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = data.lotline(&["serve", "--listen", &addr]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("Failed to listen on {addr}")), "{}", stderr(&out));
    assert!(!data.0.join("postgres").exists());
}

#[test]
fn a_malformed_database_url_or_unreachable_server_is_named_in_the_error() {
    let data = DataDir::new();
    let out = data.lotline(&["migrate"]).env("DATABASE_URL", "mysql://nope").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("DATABASE_URL is not a valid PostgreSQL URL"), "{}", stderr(&out));

    let url = format!("postgres://lotline@127.0.0.1:{}/lotline", free_port());
    let out = data.lotline(&["migrate"]).env("DATABASE_URL", url).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Failed to connect to PostgreSQL"), "{}", stderr(&out));
}

#[test]
fn a_malformed_log_filter_or_connection_limit_is_refused() {
    let data = DataDir::new();
    let out = data.lotline(&["migrate"]).env("LOTLINE_LOG", "lotline=loud").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a valid log filter"), "{}", stderr(&out));
    let out = data.lotline(&["migrate"]).env("LOTLINE_DB_MAX_CONNECTIONS", "0").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("LOTLINE_DB_MAX_CONNECTIONS") || stderr(&out).contains("0 is not in 1..=1000"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn db_commands_refuse_to_touch_a_server_given_by_database_url() {
    let data = DataDir::new();
    let out = data.lotline(&["db", "stop"]).env("DATABASE_URL", "postgres://x@127.0.0.1/x").output().unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("manages only the private one"), "{}", stderr(&out));
}

/// A managed PostgreSQL set up as the README says: the owner's URL applies the migrations and
/// grants; lotline works as an application role that owns nothing.
#[tokio::test]
async fn on_a_managed_server_the_owner_migrates_and_lotline_works_as_an_application_role() {
    let data = DataDir::new();
    let name = crate::helpers::empty_database().await;
    let owner = crate::helpers::database_url(&name);
    let app = crate::helpers::database_url_as(&name, lotline::db::APP_ROLE);

    // The application role alone cannot make the schema, and is told what to set.
    let out = data.lotline(&["migrate"]).env("DATABASE_URL", &app).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("DATABASE_OWNER_URL"), "{}", stderr(&out));

    let out = data.lotline(&["migrate"]).env("DATABASE_URL", &app).env("DATABASE_OWNER_URL", &owner).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // From then on the application role's URL is all a server needs, and nothing warns.
    let out = data.lotline(&["audit", "verify"]).env("DATABASE_URL", &app).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("could disable"), "{}", stderr(&out));
    // The owner's URL alone works too, with a warning that the audit triggers do not bind it.
    let out = data.lotline(&["audit", "verify"]).env("DATABASE_URL", &owner).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("could disable the audit trail's triggers"), "{}", stderr(&out));
}
