//! The typed vocabulary and the database say the same words: each enum of `domain::vocab` against
//! the CHECK of the column that stores it (or, for permissions, the rows).

use std::collections::BTreeSet;

use crate::helpers::fresh_database;

#[tokio::test]
async fn every_stored_word_is_a_variant_and_every_variant_is_allowed() {
    let (_, pool) = fresh_database().await;
    for (column, words) in lotline::db::words::all() {
        let (table, field) = column.split_once('.').unwrap();
        let allowed: BTreeSet<String> = if column == "permissions.code" {
            sqlx::query_scalar("select code from permissions").fetch_all(&pool).await.unwrap().into_iter().collect()
        } else {
            let check: String = sqlx::query_scalar(
                "select pg_get_constraintdef(c.oid) from pg_constraint c
                  where c.conrelid = $1::regclass and c.contype = 'c' and c.conname = $1 || '_' || $2 || '_check'",
            )
            .bind(table)
            .bind(field)
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("{column} has a CHECK: {e}"));
            check.split('\'').skip(1).step_by(2).map(str::to_string).collect()
        };
        let words: BTreeSet<String> = words.into_iter().map(str::to_string).collect();
        assert_eq!(words, allowed, "{column}");
    }
}
