//! `bench epcis`: EPCIS publication and GS1's query interface on a generated plant — the first
//! publication of everything a plant ever posted, the publication of a busy minute's receipts,
//! and pages of `GET /api/v1/epcis/events` over real HTTP.

use super::*;

/// What `bench epcis` measured.
#[derive(Debug)]
pub struct EpcisReport {
    pub database: String,
    pub lots: i64,
    pub movements: i64,
    /// Events (and retractions) the first publication stored, and its seconds.
    pub events: usize,
    pub publish_s: f64,
    /// Receipts posted, then the seconds their publication took.
    pub receipts: usize,
    pub incremental_ms: f64,
    pub rows: Vec<Latency>,
}

/// Generates and imports a plant of `lots` lots (or takes a kept one), publishes it, then times
/// the query interface.
pub async fn epcis(database: &Database, lots: usize, samples: usize, keep: bool) -> Result<EpcisReport> {
    let scratch = Scratch::open(database, "epcis", lots, 8).await?;
    let outcome = async {
        scratch.fill(lots, false).await?;
        let pool = &scratch.pool;
        let base = "http://127.0.0.1:8080";
        let lots: i64 = sqlx::query_scalar("select count(*) from lots").fetch_one(pool).await?;
        let movements: i64 = sqlx::query_scalar("select count(*) from stock_movements").fetch_one(pool).await?;
        let t = Instant::now();
        let events = crate::documents::epcis::publish::publish(pool, base).await?;
        let publish_s = t.elapsed().as_secs_f64();

        // A busy minute: 100 receipts of ten lots, then their publication.
        let id = |sql: &'static str| async move { sqlx::query_scalar::<_, Uuid>(sql).fetch_one(pool).await };
        let input = ReceiptInput {
            site_id: id("select id from sites where code = 'RVS'").await?,
            supplier_id: id("select id from parties where code = 'SALINAS'").await?,
            received_on: None,
            order_ref: "BENCH".into(),
            asn_ref: String::new(),
            lines: vec![
                LineInput {
                    material_id: id("select id from materials where code = 'SALT'").await?,
                    supplier_lot: Some("SUP-BENCH".into()),
                    quantity: rust_decimal::Decimal::new(2500, 2),
                    location_id: id("select l.id from locations l join sites s on s.id = l.site_id
                                      where s.code = 'RVS' and l.code = 'DOCK'")
                    .await?,
                    expires_on: None,
                    country_of_origin: None,
                };
                10
            ],
        };
        let receipts = 100;
        for _ in 0..receipts {
            crate::stock::receive::receive(pool, &Actor::system("bench"), &input, Uuid::new_v4())
                .await
                .map_err(|e| anyhow::anyhow!("bench receipt: {e:?}"))?;
        }
        let t = Instant::now();
        crate::documents::epcis::publish::publish(pool, base).await?;
        let incremental_ms = t.elapsed().as_secs_f64() * 1000.0;

        // Pages as a repository pulls them, over HTTP.
        let (address, server, token) = serve(pool, "admin", Default::default()).await?;
        let (some_id, some_class): (String, String) = sqlx::query_as(
            "select event_id, event->'quantityList'->0->>'epcClass' from epcis_events
              where event ? 'quantityList' order by seq limit 1
             offset (select count(*) / 2 from epcis_events where event ? 'quantityList')",
        )
        .fetch_one(pool)
        .await?;
        let mut rows = Vec::new();
        for (what, path) in [
            ("the first page of 500 events", "/api/v1/epcis/events?perPage=500".to_string()),
            ("shipping events, first page of 30", "/api/v1/epcis/events?EQ_bizStep=shipping".to_string()),
            (
                "one event by its eventID",
                format!("/api/v1/epcis/events?EQ_eventID={}", crate::domain::text::percent_encode(&some_id)),
            ),
            (
                "the events of one EPC class",
                format!("/api/v1/epcis/events?MATCH_anyEPCClass={}", crate::domain::text::percent_encode(&some_class)),
            ),
        ] {
            let mut times = Vec::new();
            for _ in 0..samples {
                let t = Instant::now();
                http_get(address, &path, &token).await?;
                times.push(t.elapsed());
            }
            rows.push(latency(what.to_string(), times, 0));
        }
        server.abort();
        Ok(EpcisReport {
            database: scratch.name.clone(),
            lots,
            movements,
            events,
            publish_s,
            receipts,
            incremental_ms,
            rows,
        })
    }
    .await;
    scratch.close(keep).await?;
    outcome
}
