//! `bench receive`: lot creations per second through the receive operation.

use super::*;

/// What `bench receive` measured.
#[derive(Debug)]
pub struct ReceiveReport {
    pub lots: u64,
    pub receipts: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub synchronous_commit: String,
}

/// Creates `lots` lots through the receive operation with `concurrency` workers, `lines` lots
/// per receipt, on a scratch database that is dropped afterwards (unless `keep`).
pub async fn receive(
    database: &Database,
    lots: u64,
    concurrency: usize,
    lines: usize,
    keep: bool,
) -> Result<ReceiveReport> {
    let name = format!("lotline_bench_{}", std::process::id());
    let admin = database.owner.clone().database("postgres");
    db::create_database_if_missing(&admin, &name).await?;
    let pool = db::pool(database.owner.clone().database(&name), concurrency as u32 + 4).await?;
    let outcome = async {
        db::migrate(&pool).await?;
        crate::tools::demo::load(&pool).await?;
        // A plant receiving tens of thousands of lots a day needs a wider daily sequence.
        sqlx::query("update lot_rules set pattern = '{YY}{JJJ}-{SEQ:6}' where scope = 'default'")
            .execute(&pool)
            .await?;
        let ids = |sql: &'static str| {
            let pool = pool.clone();
            async move { sqlx::query_scalar::<_, Uuid>(sql).fetch_one(&pool).await.context("bench fixture") }
        };
        // The demo plant's own lots, made through its first days' flows.
        let before: i64 = sqlx::query_scalar("select count(*) from lots").fetch_one(&pool).await?;
        let site = ids("select id from sites where code = 'RVS'").await?;
        let supplier = ids("select id from parties where code = 'SALINAS'").await?;
        let location = ids(
            "select l.id from locations l join sites s on s.id = l.site_id where s.code = 'RVS' and l.code = 'DOCK'",
        )
        .await?;
        let material = ids("select id from materials where code = 'SALT'").await?;
        let input = Arc::new(ReceiptInput {
            site_id: site,
            supplier_id: supplier,
            received_on: None,
            order_ref: "BENCH".into(),
            asn_ref: String::new(),
            lines: (0..lines)
                .map(|_| LineInput {
                    material_id: material,
                    supplier_lot: Some("SUP-BENCH".into()),
                    quantity: rust_decimal::Decimal::new(2500, 2),
                    location_id: location,
                    expires_on: None,
                    country_of_origin: None,
                })
                .collect(),
        });
        let receipts = lots.div_ceil(lines as u64);
        let next = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let progress = {
            let done = done.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let n = done.load(Ordering::Relaxed) * lines as u64;
                    let rate = n as f64 / started.elapsed().as_secs_f64();
                    eprint!("\r  {n:>8} / {lots} lots  {rate:>8.0} lots/s   ");
                }
            })
        };
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            let (pool, input, next, done) = (pool.clone(), input.clone(), next.clone(), done.clone());
            workers.push(tokio::spawn(async move {
                let actor = Actor::system("bench");
                let mut latencies = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < receipts {
                    let t = Instant::now();
                    crate::stock::receive::receive(&pool, &actor, &input, Uuid::new_v4())
                        .await
                        .map_err(|e| anyhow::anyhow!("a receipt failed: {e:?}"))?;
                    latencies.push(t.elapsed());
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok::<_, anyhow::Error>(latencies)
            }));
        }
        let mut latencies = Vec::new();
        for w in workers {
            latencies.extend(w.await??);
        }
        let seconds = started.elapsed().as_secs_f64();
        progress.abort();
        eprintln!();
        latencies.sort();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .map(|d| d.as_secs_f64() * 1000.0)
                .unwrap_or(0.0)
        };
        let made: i64 =
            sqlx::query_scalar("select count(distinct (material_id, code)) from lots").fetch_one(&pool).await?;
        let made = made - before;
        anyhow::ensure!(
            made as u64 == receipts * lines as u64,
            "expected {} new distinct lots, found {made}",
            receipts * lines as u64
        );
        let synchronous_commit: String = sqlx::query_scalar("show synchronous_commit").fetch_one(&pool).await?;
        Ok(ReceiveReport {
            lots: made as u64,
            receipts,
            seconds,
            p50_ms: pct(0.50),
            p95_ms: pct(0.95),
            p99_ms: pct(0.99),
            synchronous_commit,
        })
    }
    .await;
    pool.close().await;
    if !keep {
        let mut conn = PgConnection::connect_with(&admin).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists \"{name}\""))).execute(&mut conn).await?;
        conn.close().await?;
    }
    outcome
}
