//! Shares and concentrations: a time-ordered sweep over the reached lots' ledger that treats
//! every lot and every run as perfectly mixed, in kg where the unit has a known mass.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use super::closure::IdMap;
use crate::domain::vocab::MovementKind;
use crate::error::Error;

/// Per reached lot its share and concentration, and the start lot's kg received over its life.
pub(crate) type Fractions = (HashMap<Uuid, (Option<Decimal>, Option<Decimal>)>, Option<Decimal>);

/// One movement in the quantity sweep, in the lot's own unit.
#[derive(sqlx::FromRow)]
struct FlowRow {
    id: i64,
    lot_id: Uuid,
    kind: MovementKind,
    quantity: Decimal,
    run_id: Option<Uuid>,
    posting_id: Uuid,
    occurred_at: DateTime<Utc>,
}

/// One movement in the quantity sweep, in kg (None where the unit has no known mass).
struct Flow {
    lot_id: Uuid,
    kind: MovementKind,
    kg: Option<Decimal>,
    run_id: Option<Uuid>,
    posting_id: Uuid,
}

/// The share and concentration of the start lot's material in every reached lot, by a sweep over
/// the ledger in time order that treats every lot, and every run, as perfectly mixed: a draw takes
/// the lot's current mix; a run's output takes the mix of everything the run consumed so far.
/// Reversed movements (and their reversals) are left out, as if they never happened.
pub(crate) async fn quantities(
    pool: &PgPool,
    start: Uuid,
    reached: &[Uuid],
    from_index: Option<super::links::SweepInputs>,
) -> Result<Fractions, Error> {
    // The reached lots' own movements and their runs' other inputs (migration 0007), then the
    // mass of a unit of each lot they touch.
    let reached_set: HashSet<Uuid> = reached.iter().copied().collect();
    let began = std::time::Instant::now();
    let (rows, kg_per_unit) = match from_index {
        Some(super::links::SweepInputs { runs, mut kg_per_unit, unknown }) => {
            // Two reads at once (migration 0015): the lots' own movements, their runs'
            // consumptions; and the kilograms per unit of any lot whose material the index lacks.
            let own = sqlx::query_as::<_, FlowRow>(
                "select id, lot_id, kind, quantity, run_id, posting_id, occurred_at from trace_flows_own($1)",
            )
            .bind(reached)
            .fetch_all(pool);
            let consumed = sqlx::query_as::<_, FlowRow>(
                "select id, lot_id, kind, quantity, run_id, posting_id, occurred_at from trace_flows_consumed($1)",
            )
            .bind(&runs)
            .fetch_all(pool);
            let kg = async {
                if unknown.is_empty() {
                    return Ok(Vec::new());
                }
                sqlx::query_as::<_, (Uuid, Option<Decimal>)>("select lot_id, kg from trace_kg_per_unit($1)")
                    .bind(&unknown)
                    .fetch_all(pool)
                    .await
            };
            let (mut rows, consumed, kg) = tokio::try_join!(own, consumed, kg)?;
            // A reached lot's own consumptions came with its movements.
            rows.extend(consumed.into_iter().filter(|r| !reached_set.contains(&r.lot_id)));
            kg_per_unit.extend(kg);
            // An input the index does not link to the run (its link was reversed with the
            // run's output, not its own posting) is read on its own.
            let missing = distinct(rows.iter().map(|r| r.lot_id).filter(|l| !kg_per_unit.contains_key(l)));
            if !missing.is_empty() {
                let kg: Vec<(Uuid, Option<Decimal>)> = sqlx::query_as("select lot_id, kg from trace_kg_per_unit($1)")
                    .bind(&missing)
                    .fetch_all(pool)
                    .await?;
                kg_per_unit.extend(kg);
            }
            (rows, kg_per_unit)
        }
        None => flows_in_one_read(pool, reached, &reached_set).await?,
    };
    tracing::debug!(trace.flows = rows.len(), trace.ms = began.elapsed().as_secs_f64() * 1000.0, "trace: flows read");
    sweep(start, &reached_set, rows, kg_per_unit)
}

/// The share sweep's ledger and kilograms per unit without the link index: the runs come from
/// the lots' own movements, in the same statement.
async fn flows_in_one_read(
    pool: &PgPool,
    reached: &[Uuid],
    reached_set: &HashSet<Uuid>,
) -> Result<(Vec<FlowRow>, IdMap<Option<Decimal>>), Error> {
    // One statement, two kinds of rows: the flows, then the kilograms per unit of each lot they
    // touch, looked up once per lot (a join per flow measured slower on the heaviest lot).
    #[derive(sqlx::FromRow)]
    struct Read {
        id: Option<i64>,
        lot_id: Uuid,
        kind: Option<MovementKind>,
        quantity: Option<Decimal>,
        run_id: Option<Uuid>,
        posting_id: Option<Uuid>,
        occurred_at: Option<DateTime<Utc>>,
        /// Read as another input of a reached lot's run (a reached lot's own is read twice).
        outside: bool,
        kg: Option<Decimal>,
    }
    let read: Vec<Read> = sqlx::query_as(
        "with f as materialized (
             select id, lot_id, kind, quantity, run_id, posting_id, occurred_at, outside from trace_flows($1)
         )
         select id, lot_id, kind, quantity, run_id, posting_id, occurred_at, outside, null::numeric as kg from f
         union all
         select null, k.lot_id, null, null, null, null, null, false, k.kg
           from trace_kg_per_unit(array(select distinct lot_id from f)) k",
    )
    .bind(reached)
    .fetch_all(pool)
    .await?;
    let mut kg_per_unit: IdMap<Option<Decimal>> = IdMap::default();
    let mut rows: Vec<FlowRow> = Vec::with_capacity(read.len());
    for r in read {
        match (r.id, r.kind, r.quantity, r.posting_id, r.occurred_at) {
            (Some(id), Some(kind), Some(quantity), Some(posting_id), Some(occurred_at)) => {
                if !(r.outside && reached_set.contains(&r.lot_id)) {
                    rows.push(FlowRow {
                        id,
                        lot_id: r.lot_id,
                        kind,
                        quantity,
                        run_id: r.run_id,
                        posting_id,
                        occurred_at,
                    });
                }
            }
            _ => {
                kg_per_unit.insert(r.lot_id, r.kg);
            }
        }
    }
    Ok((rows, kg_per_unit))
}

/// Shares and concentrations from the ledger rows, in each lot's unit, and the kg per unit.
fn sweep(
    start: Uuid,
    reached_set: &HashSet<Uuid>,
    mut rows: Vec<FlowRow>,
    kg_per_unit: IdMap<Option<Decimal>>,
) -> Result<Fractions, Error> {
    // In time order; at one instant what flows in first, then draws, then what runs put out.
    let order = |r: &FlowRow| match (r.kind, r.quantity > Decimal::ZERO) {
        (MovementKind::Produce | MovementKind::Split, true) => 2,
        (_, false) => 1,
        _ => 0,
    };
    rows.sort_by_key(|a| (a.occurred_at, order(a), a.id));
    let flows: Vec<Flow> = rows
        .into_iter()
        .map(|r| Flow {
            lot_id: r.lot_id,
            kg: kg_per_unit.get(&r.lot_id).copied().flatten().map(|k| r.quantity * k),
            kind: r.kind,
            run_id: r.run_id,
            posting_id: r.posting_id,
        })
        .collect();
    let clock = std::time::Instant::now();
    let flow_count = flows.len();
    // Per lot: content and suspect now, and suspect and content received over its life.
    #[derive(Default, Clone, Copy)]
    struct Mix {
        content: Option<Decimal>,
        suspect: Option<Decimal>,
        received: Option<Decimal>,
        received_suspect: Option<Decimal>,
    }
    let zero = Some(Decimal::ZERO);
    let fresh = Mix { content: zero, suspect: zero, received: zero, received_suspect: zero };
    let mut lots: HashMap<Uuid, Mix> = HashMap::new();
    // Per run (or split posting): consumed total and consumed suspect.
    let mut pools: HashMap<Uuid, (Option<Decimal>, Option<Decimal>)> = HashMap::new();
    let add = |a: Option<Decimal>, b: Option<Decimal>| Some(a? + b?);
    for f in flows {
        let mix = lots.entry(f.lot_id).or_insert(fresh);
        let pool_key = f.run_id.unwrap_or(f.posting_id);
        let inflow = f.kg.is_none_or(|k| k > Decimal::ZERO);
        if inflow {
            let amount = f.kg;
            let suspect = if f.lot_id == start {
                amount
            } else {
                match f.kind {
                    MovementKind::Produce | MovementKind::Split => {
                        let (total, susp) = pools.get(&pool_key).copied().unwrap_or((zero, zero));
                        match (amount, total, susp) {
                            (Some(a), Some(t), Some(s)) if t > Decimal::ZERO => Some(a * s / t),
                            (Some(_), Some(_), Some(_)) => zero,
                            _ => None,
                        }
                    }
                    _ => zero,
                }
            };
            mix.content = add(mix.content, amount);
            mix.suspect = add(mix.suspect, suspect);
            mix.received = add(mix.received, amount);
            mix.received_suspect = add(mix.received_suspect, suspect);
        } else {
            let amount = f.kg.map(|k| -k);
            let taken = match (amount, mix.content, mix.suspect) {
                (Some(a), Some(c), Some(s)) if c > Decimal::ZERO => Some(a * s / c),
                (Some(_), Some(_), Some(_)) => zero,
                _ => None,
            };
            mix.content = add(mix.content, amount.map(|a| -a));
            mix.suspect = add(mix.suspect, taken.map(|t| -t));
            if matches!(f.kind, MovementKind::Consume | MovementKind::Split) {
                let entry = pools.entry(pool_key).or_insert((zero, zero));
                *entry = (add(entry.0, amount), add(entry.1, taken));
            }
        }
    }
    tracing::debug!(trace.flows = flow_count, trace.ms = clock.elapsed().as_secs_f64() * 1000.0, "trace: shares swept");
    let total = lots.get(&start).and_then(|m| m.received);
    let mut out = HashMap::new();
    for (id, mix) in lots {
        if !reached_set.contains(&id) {
            continue;
        }
        let share = match (mix.received_suspect, total) {
            (Some(s), Some(t)) if t > Decimal::ZERO => Some((s / t).round_dp(6).normalize()),
            _ => None,
        };
        let concentration = match (mix.received_suspect, mix.received) {
            (Some(s), Some(r)) if r > Decimal::ZERO => Some((s / r).round_dp(6).normalize()),
            _ => None,
        };
        out.insert(id, (share, concentration));
    }
    Ok((out, total.map(|t| t.normalize())))
}

/// The ids, each once (sorted), to bind as one array.
fn distinct(ids: impl Iterator<Item = Uuid>) -> Vec<Uuid> {
    let mut v: Vec<Uuid> = ids.collect();
    v.sort_unstable();
    v.dedup();
    v
}
