//! docs/schema.sql is the schema the migrations make, so that today's tables, triggers and trace
//! readers can be read in one place instead of by replaying every migration. After a new
//! migration, `LOTLINE_WRITE_SCHEMA=1 scripts/test schema::` writes it anew.

use crate::helpers::{database_url, fresh_database, test_data_dir};

/// The dump without what changes from one run to the next (comments, session settings, the
/// random `\restrict` key of newer pg_dump releases) and without runs of blank lines.
fn normalized(dump: &str) -> String {
    let mut out = String::new();
    let mut blank = true;
    for line in dump.lines() {
        let noise = line.starts_with("--")
            || line.starts_with("SET ")
            || line.starts_with("SELECT pg_catalog.set_config")
            || line.starts_with("\\restrict")
            || line.starts_with("\\unrestrict");
        if noise {
            continue;
        }
        if line.trim().is_empty() {
            if !blank {
                out.push('\n');
            }
            blank = true;
            continue;
        }
        out.push_str(line.trim_end());
        out.push('\n');
        blank = false;
    }
    out
}

#[tokio::test]
async fn docs_schema_sql_is_what_the_migrations_make() {
    let (name, pool) = fresh_database().await;
    pool.close().await;
    let url = database_url(&name);
    let dump = tokio::task::spawn_blocking(move || {
        let args = ["--schema-only", "--no-owner", "--no-privileges", "--dbname", url.as_str()];
        if std::env::var_os("LOTLINE_TEST_DATABASE_URL").is_some() {
            return std::process::Command::new("pg_dump").args(args).output();
        }
        // The run's own cluster, with its own pg_dump (run as the user the server runs as).
        let opts = lotline::db::embedded::ClusterOptions { data_dir: test_data_dir(), bindir: None, ephemeral: true };
        let cluster = lotline::db::embedded::Cluster::open(&opts).expect("the test cluster");
        let out = cluster.command("pg_dump").args(args).output();
        cluster.detach();
        out
    })
    .await
    .unwrap()
    .expect("pg_dump runs");
    assert!(out_ok(&dump), "pg_dump: {}", String::from_utf8_lossy(&dump.stderr));
    let made = normalized(&String::from_utf8_lossy(&dump.stdout));
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema.sql");
    if std::env::var_os("LOTLINE_WRITE_SCHEMA").is_some() {
        let header = "-- The schema the migrations make (pg_dump --schema-only, normalised): read it here, change it\n\
                      -- only through a new migration. tests/it/schema.rs keeps this file true.\n\n";
        std::fs::write(&path, format!("{header}{made}")).unwrap();
    }
    let kept = normalized(&std::fs::read_to_string(&path).unwrap_or_default());
    assert!(
        kept == made,
        "docs/schema.sql is not the migrated schema; write it anew with `LOTLINE_WRITE_SCHEMA=1 scripts/test schema::`"
    );
}

fn out_ok(out: &std::process::Output) -> bool {
    out.status.success() && !out.stdout.is_empty()
}
