//! Ids for the rows an import writes: time-ordered UUIDs by the thousand, and identity ranges
//! reserved at once.

use super::*;

/// `n` version-7 ids (RFC 9562) in increasing order, for rows written by the thousand. The same
/// ids as `Uuid::now_v7`, made with one clock reading and one call to the operating system's
/// random source instead of one each: for the millions of rows of an import that call was a
/// tenth of its own time. The bits after the millisecond are a counter (method 1 of the RFC,
/// 42 bits, started at a random point per process and shared by every batch, so ids of one
/// process never repeat) followed by 32 random bits, which keep two processes apart.
pub(super) fn time_ordered_ids(n: usize) -> Vec<Uuid> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(u64::MAX);
    const BITS: u32 = 42;
    if COUNTER.load(Ordering::Relaxed) == u64::MAX {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).expect("the operating system's random source");
        // Start in the lower half, so a process has 2^41 ids before the counter wraps.
        let _ = COUNTER.compare_exchange(
            u64::MAX,
            u64::from_le_bytes(seed) >> (64 - BITS + 1),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    let first = COUNTER.fetch_add(n as u64, Ordering::Relaxed);
    let millis = Utc::now().timestamp_millis() as u64;
    let mut random = vec![0u8; n * 4];
    getrandom::fill(&mut random).expect("the operating system's random source");
    (0..n)
        .map(|i| {
            let c = (first + i as u64) & ((1 << BITS) - 1);
            // The builder overwrites the top four bits of byte 0 (the version) and the top two
            // of byte 2 (the variant): the counter's 42 bits fill the 4 + 8 + 6 + 8 + 8 + 8 around them.
            let r = &random[i * 4..i * 4 + 4];
            let bytes = [
                (c >> 38) as u8 & 0x0f,
                (c >> 30) as u8,
                (c >> 24) as u8 & 0x3f,
                (c >> 16) as u8,
                (c >> 8) as u8,
                c as u8,
                r[0],
                r[1],
                r[2],
                r[3],
            ];
            uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
        })
        .collect()
}

/// The first of `n` ids taken at once from the identity sequence of `table`'s `id`, for rows a
/// bulk load writes with their ids (a million defaults cost a million sequence calls). Only
/// while this transaction holds the table (a bulk load drops its indexes, which locks it): no
/// other insert can take one of the ids between the two calls.
pub(super) async fn reserve_ids(
    tx: &mut sqlx::PgConnection,
    table: &'static str,
    n: usize,
) -> Result<i64, sqlx::Error> {
    let first: i64 =
        sqlx::query_scalar("select nextval(pg_get_serial_sequence($1, 'id'))").bind(table).fetch_one(&mut *tx).await?;
    if n > 1 {
        sqlx::query("select setval(pg_get_serial_sequence($1, 'id'), $2)")
            .bind(table)
            .bind(first + n as i64 - 1)
            .execute(&mut *tx)
            .await?;
    }
    Ok(first)
}
