//! Reading published events: the standard EPCIS query parameters lotline answers, shared by the
//! exports, the REST query interface and the webhook subscriptions.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// Which published events. Empty lists match everything.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Filter {
    /// ObjectEvent, TransformationEvent.
    pub event_types: Vec<String>,
    /// Business steps, bare (`shipping`) or as their URI.
    pub biz_steps: Vec<String>,
    /// EPC classes in any quantity list, as exported.
    pub epc_classes: Vec<String>,
    pub event_ids: Vec<String>,
    pub ge_event_time: Option<DateTime<Utc>>,
    pub lt_event_time: Option<DateTime<Utc>>,
    /// When lotline published the event (a retraction is recorded when it is declared).
    pub ge_record_time: Option<DateTime<Utc>>,
    pub lt_record_time: Option<DateTime<Utc>>,
    /// The events of these lots, and every posting of a run that touched one of them.
    #[serde(skip)]
    pub lots: Option<Vec<Uuid>>,
    /// Leave out retracted events and their retractions (a document of what stands).
    #[serde(skip)]
    pub standing_only: bool,
}

/// Where a read starts.
#[derive(Debug, Clone, Copy)]
pub enum After {
    /// From the first event, in time order.
    Start,
    /// After an event (its time and publication number), in time order: a page's end.
    Page(DateTime<Utc>, i64),
    /// After a publication number, in publication order: a subscription's cursor.
    Published(i64),
}

/// A published event with its publication number.
#[derive(Debug, sqlx::FromRow)]
pub struct Published {
    pub seq: i64,
    pub event_time: DateTime<Utc>,
    pub event: Value,
}

/// The last word of a CBV value, bare or as a URI (`shipping`, `…/BizStep-shipping`, `urn:…:shipping`).
pub fn vocabulary(value: &str) -> &str {
    value.rsplit(['-', ':', '/']).next().unwrap_or(value)
}

const SELECT: &str = "
select e.seq, e.event_time,
       e.event || jsonb_build_object('recordTime',
                  to_char(e.recorded_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) as event
  from epcis_events e
 where (cardinality($1::text[]) = 0 or e.event->>'type' = any($1))
   and (cardinality($2::text[]) = 0 or e.event->>'bizStep' = any($2))
   and (cardinality($3::text[]) = 0 or e.event_id = any($3))
   and (cardinality($4::text[]) = 0 or e.epc_classes && $4)
   and ($5::timestamptz is null or e.event_time >= $5) and ($6::timestamptz is null or e.event_time < $6)
   and ($7::timestamptz is null or e.recorded_at >= $7) and ($8::timestamptz is null or e.recorded_at < $8)
   and ($9::uuid[] is null or e.lots && $9
        or e.run_id in (select m.run_id from stock_movements m where m.lot_id = any($9) and m.run_id is not null))
   and (not $10 or (not e.retraction and e.retracted_at is null))
   and ($11::bigint is null or e.seq > $11)
   and ($12::timestamptz is null or (e.event_time, e.seq) > ($12, $13))
 order by {ORDER}
 limit $14";

/// Up to `limit` published events matching `f`, after `after`.
pub async fn select(pool: &PgPool, f: &Filter, after: After, limit: i64) -> Result<Vec<Published>, sqlx::Error> {
    let steps: Vec<&str> = f.biz_steps.iter().map(|s| vocabulary(s.trim())).collect();
    let (seq, page) = match after {
        After::Start => (None, None),
        After::Page(at, seq) => (None, Some((at, seq))),
        After::Published(seq) => (Some(seq), None),
    };
    let order = if matches!(after, After::Published(_)) { "e.seq" } else { "e.event_time, e.seq" };
    sqlx::query_as(sqlx::AssertSqlSafe(SELECT.replace("{ORDER}", order)))
        .bind(&f.event_types)
        .bind(&steps)
        .bind(&f.event_ids)
        .bind(&f.epc_classes)
        .bind(f.ge_event_time)
        .bind(f.lt_event_time)
        .bind(f.ge_record_time)
        .bind(f.lt_record_time)
        .bind(&f.lots)
        .bind(f.standing_only)
        .bind(seq)
        .bind(page.map(|p| p.0))
        .bind(page.map(|p| p.1))
        .bind(limit)
        .fetch_all(pool)
        .await
}

/// The standard query parameters lotline answers, by their EPCIS names.
pub const PARAMETERS: &[&str] = &[
    "eventType",
    "EQ_bizStep",
    "MATCH_anyEPCClass",
    "EQ_eventID",
    "GE_eventTime",
    "LT_eventTime",
    "GE_recordTime",
    "LT_recordTime",
];

impl Filter {
    /// A filter from an EPCIS query's parameters (each a string or a list of strings), refusing
    /// what lotline does not answer rather than ignoring it.
    pub fn from_query(query: &Value) -> Result<Filter, String> {
        let Some(fields) = query.as_object() else {
            return Err("The query is an object of EPCIS query parameters.".into());
        };
        let mut f = Filter::default();
        for (name, value) in fields {
            let values: Vec<String> = match value {
                Value::String(s) => vec![s.trim().to_string()],
                Value::Array(a) if a.iter().all(Value::is_string) => {
                    a.iter().filter_map(Value::as_str).map(|s| s.trim().to_string()).collect()
                }
                _ => return Err(format!("{name} is a string or a list of strings.")),
            };
            let values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
            let time = |values: &[String]| -> Result<Option<DateTime<Utc>>, String> {
                match values {
                    [] => Ok(None),
                    [one] => DateTime::parse_from_rfc3339(one)
                        .map(|t| Some(t.with_timezone(&Utc)))
                        .map_err(|_| format!("{name} is a time such as 2026-11-26T08:00:00Z.")),
                    _ => Err(format!("{name} is one time.")),
                }
            };
            match name.as_str() {
                "eventType" => f.event_types = values,
                "EQ_bizStep" => f.biz_steps = values,
                "MATCH_anyEPCClass" => f.epc_classes = values,
                "EQ_eventID" => f.event_ids = values,
                "GE_eventTime" => f.ge_event_time = time(&values)?,
                "LT_eventTime" => f.lt_event_time = time(&values)?,
                "GE_recordTime" => f.ge_record_time = time(&values)?,
                "LT_recordTime" => f.lt_record_time = time(&values)?,
                other => {
                    return Err(format!(
                        "lotline does not answer the query parameter {other}; it answers {}.",
                        PARAMETERS.join(", ")
                    ));
                }
            }
        }
        if let Some(t) = f.event_types.iter().find(|t| !matches!(t.as_str(), "ObjectEvent" | "TransformationEvent")) {
            return Err(format!("eventType {t}: lotline publishes ObjectEvent and TransformationEvent."));
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_takes_strings_or_lists_and_refuses_what_it_cannot_answer() {
        let f = Filter::from_query(&serde_json::json!({
            "eventType": ["ObjectEvent"], "EQ_bizStep": "https://ref.gs1.org/cbv/BizStep-shipping",
            "GE_eventTime": "2026-11-26T08:00:00+01:00",
        }))
        .unwrap();
        assert_eq!(f.event_types, ["ObjectEvent"]);
        assert_eq!(vocabulary(&f.biz_steps[0]), "shipping");
        assert_eq!(f.ge_event_time.unwrap().to_rfc3339(), "2026-11-26T07:00:00+00:00");
        for (query, says) in [
            (serde_json::json!({ "EQ_readPoint": "x" }), "does not answer the query parameter EQ_readPoint"),
            (serde_json::json!({ "GE_eventTime": "yesterday" }), "GE_eventTime is a time"),
            (serde_json::json!({ "eventType": 3 }), "eventType is a string or a list"),
            (serde_json::json!({ "eventType": "AggregationEvent" }), "lotline publishes ObjectEvent"),
            (serde_json::json!([]), "an object"),
        ] {
            let refused = Filter::from_query(&query).unwrap_err();
            assert!(refused.contains(says), "{query}: {refused}");
        }
    }
}
