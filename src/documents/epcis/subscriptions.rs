//! Webhook query subscriptions (GS1 EPCIS 2.0 REST): a partner or a repository names a query and
//! an address, and every event published that matches is sent there as an EPCISQueryDocument,
//! signed with `GS1-Signature: sha256=<hex HMAC-SHA256 of the body under the subscriber's
//! signatureToken>`. Deliveries follow publication order; a failed one is retried, later and
//! later, from where it stopped, so nothing is skipped and nothing is sent twice once accepted.

use std::time::Duration;

use axum::http::Uri;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sqlx::PgPool;
use uuid::Uuid;

use super::query::{After, Filter};

/// Events per delivery, at most.
const BATCH: i64 = 500;
/// How long a subscriber has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The `GS1-Signature` of `body` under `token`.
pub fn signature(token: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", crate::audit::hex(&mac.finalize().into_bytes()))
}

/// An address lotline can deliver to, or why not.
pub fn destination(dest: &str) -> Result<Uri, String> {
    let uri: Uri = dest.trim().parse().map_err(|_| format!("“{dest}” is not an address (http://host:port/path)."))?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some_and(|h| !h.is_empty()) => Ok(uri),
        Some("https") => Err(
            "lotline sends webhooks over HTTP to a forwarding proxy of your network (which speaks TLS to the subscriber); give that proxy's http:// address."
                .into(),
        ),
        _ => Err(format!("“{dest}” is not an http:// address with a host.")),
    }
}

#[derive(sqlx::FromRow)]
struct Due {
    id: Uuid,
    query_name: String,
    dest: String,
    signature_token: Option<String>,
    delivered_seq: i64,
    failures: i32,
    query: Value,
}

/// Every `every`: publishes what was posted since (so an event is fixed within seconds of
/// happening), then sends each due subscription its next events.
pub async fn publish_and_deliver_forever(pool: PgPool, base: String, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = super::publish::publish(&pool, &base).await {
            tracing::warn!(error = %e, "EPCIS: publishing failed");
            continue;
        }
        if let Err(e) = deliver(&pool).await {
            tracing::warn!(error = %e, "EPCIS subscriptions: delivery round failed");
        }
    }
}

/// Sends each due subscription its next published events; the number of deliveries accepted.
pub async fn deliver(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let due: Vec<Due> = sqlx::query_as(
        "select s.id, s.query_name, s.dest, s.signature_token, s.delivered_seq, s.failures, q.query
           from epcis_subscriptions s join epcis_queries q on q.name = s.query_name
          where s.next_attempt_at is null or s.next_attempt_at <= now()
          order by s.created_at",
    )
    .fetch_all(pool)
    .await?;
    let mut accepted = 0;
    for s in due {
        let newest: i64 = sqlx::query_scalar("select coalesce(max(seq), 0) from epcis_events").fetch_one(pool).await?;
        let filter = match Filter::from_query(&s.query) {
            Ok(f) => f,
            Err(m) => {
                failed(pool, &s, &m).await?;
                continue;
            }
        };
        let events = super::query::select(pool, &filter, After::Published(s.delivered_seq), BATCH).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            // Nothing of interest was published: pass over what was.
            sqlx::query("update epcis_subscriptions set delivered_seq = greatest(delivered_seq, $2) where id = $1")
                .bind(s.id)
                .bind(newest)
                .execute(pool)
                .await?;
            continue;
        };
        let cursor = if (events.len() as i64) < BATCH { last.max(newest) } else { last };
        let mut doc = super::envelope("EPCISQueryDocument", Vec::new());
        doc["epcisBody"] = json!({ "queryResults": {
            "queryName": s.query_name,
            "subscriptionID": s.id.to_string(),
            "resultsBody": { "eventList": events.into_iter().map(|e| e.event).collect::<Vec<_>>() },
        }});
        let body = serde_json::to_vec(&doc).unwrap_or_default();
        match send(&s.dest, body, s.signature_token.as_deref()).await {
            Ok(()) => {
                sqlx::query(
                    "update epcis_subscriptions set delivered_seq = $2, last_notified_at = now(), last_error = null,
                            failures = 0, next_attempt_at = null where id = $1",
                )
                .bind(s.id)
                .bind(cursor)
                .execute(pool)
                .await?;
                accepted += 1;
            }
            Err(m) => failed(pool, &s, &m).await?,
        }
    }
    Ok(accepted)
}

/// Records a failed delivery; the next try waits twice as long, at most an hour.
async fn failed(pool: &PgPool, s: &Due, why: &str) -> Result<(), sqlx::Error> {
    tracing::warn!(subscription = %s.id, dest = %s.dest, error = why, "EPCIS subscription: delivery failed");
    let wait = 2_i64.saturating_pow((s.failures + 1).min(12) as u32).min(3600);
    sqlx::query(
        "update epcis_subscriptions set failures = failures + 1, last_error = $2,
                next_attempt_at = now() + make_interval(secs => $3) where id = $1",
    )
    .bind(s.id)
    .bind(why.chars().take(500).collect::<String>())
    .bind(wait as f64)
    .execute(pool)
    .await?;
    Ok(())
}

/// POSTs `body` to `dest`, signed; Ok when the subscriber answers 2xx.
async fn send(dest: &str, body: Vec<u8>, token: Option<&str>) -> Result<(), String> {
    use axum::http::header::{CONTENT_TYPE, HOST};
    let uri = destination(dest)?;
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']).to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| format!("{dest} did not answer within {} s", TIMEOUT.as_secs()))?
        .map_err(|e| format!("could not reach {dest}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .map_err(|e| format!("{dest}: {e}"))?;
    tokio::spawn(connection);
    let mut request = axum::http::Request::post(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .header(HOST, uri.authority().map(|a| a.as_str()).unwrap_or_default())
        .header(CONTENT_TYPE, "application/ld+json")
        .header("GS1-EPCIS-Version", "2.0.0");
    if let Some(token) = token {
        request = request.header("GS1-Signature", signature(token, &body));
    }
    let request = request.body(axum::body::Body::from(body)).map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| format!("{dest} did not answer within {} s", TIMEOUT.as_secs()))?
        .map_err(|e| format!("{dest}: {e}"))?;
    if response.status().is_success() { Ok(()) } else { Err(format!("{dest} answered {}", response.status())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_body_under_the_token() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn deliveries_go_to_http_addresses_only() {
        assert!(destination("http://127.0.0.1:9000/hook").is_ok());
        assert!(destination("https://partner.example/hook").unwrap_err().contains("proxy"));
        assert!(destination("ftp://x/y").is_err());
        assert!(destination("not an address").is_err());
    }
}
