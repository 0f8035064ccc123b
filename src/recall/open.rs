//! Opening a recall (signed): its suspects, on our lots or on a supplier's lot code; for a real
//! recall, behind the gate, the scope frozen and every lot in it held, in one transaction.

use super::*;

/// Opens a recall (or a mock recall, a drill) on suspect lots.
#[derive(Debug, Clone)]
pub struct OpenRecall {
    pub mock: bool,
    pub class: Option<RecallClass>,
    /// None: the class's own level.
    pub check_level: Option<CheckLevel>,
    /// Level B: the share of consignees to check, a percentage above 10 and below 100 (None: 25).
    pub check_percent: Option<Decimal>,
    pub reason: String,
    pub mode: Mode,
    /// A fraction: lots with less suspect material than this are scoped out.
    pub threshold: Option<Decimal>,
    pub threshold_reason: String,
    pub suspects: Suspects,
    /// The opener's user name and password: the opening is signed.
    pub signer: String,
    pub password: String,
    pub key: Uuid,
}

/// What a recall is opened on.
#[derive(Debug, Clone, Default)]
pub struct Suspects {
    /// Lots as typed, one per line: "MATERIAL LOT", or just "LOT" where the code is unique.
    pub lines: String,
    /// Lots by id (chosen on a lot's page).
    pub lot_ids: Vec<Uuid>,
    /// A supplier's recalled lot: the supplier, and its lot code as printed on its label.
    pub supplier: Option<Uuid>,
    pub supplier_lot: String,
}

/// The suspects a form names: typed lot lines, lot ids and a supplier's lot. Problems go to `e`.
async fn resolve_suspects(pool: &PgPool, f: &Suspects, e: &mut FieldErrors) -> Result<Vec<Uuid>, Error> {
    let mut found: Vec<Uuid> = Vec::new();
    for id in &f.lot_ids {
        let exists: bool =
            sqlx::query_scalar("select exists (select 1 from lots where id = $1)").bind(id).fetch_one(pool).await?;
        if exists {
            found.push(*id);
        } else {
            e.add("lots", "One of the chosen lots does not exist any more.");
        }
    }
    for (n, line) in f.lines.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (material, code) = match words.as_slice() {
            [code] => (None, *code),
            [material, code] => (Some(*material), *code),
            _ => {
                e.add(
                    "lots",
                    format!("Line {}: write MATERIAL LOT, such as FLOUR 26001-0001, or just the lot code.", n + 1),
                );
                continue;
            }
        };
        let rows: Vec<(Uuid, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "select l.id, m.code from lots l join materials m on m.id = l.material_id
              where {} and ($2::text is null or m.code = upper($2)) order by m.code limit 10",
            crate::domain::lotcode::named_sql(1)
        )))
        .bind(code)
        .bind(material)
        .fetch_all(pool)
        .await?;
        match rows.as_slice() {
            [] => e.add(
                "lots",
                match material {
                    Some(m) => format!("Line {}: material {} has no lot “{code}”.", n + 1, m.to_uppercase()),
                    None => format!("Line {}: no lot has the code “{code}”.", n + 1),
                },
            ),
            [(id, _)] => found.push(*id),
            many => e.add(
                "lots",
                format!(
                    "Line {}: several materials have a lot “{code}” ({}); write it as MATERIAL LOT.",
                    n + 1,
                    many.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ),
        }
    }
    let supplier_lot = f.supplier_lot.trim();
    if !supplier_lot.is_empty() || f.supplier.is_some() {
        match (f.supplier, supplier_lot.is_empty()) {
            (None, _) => e.add("supplier_id", "Choose the supplier that recalls its lot."),
            (Some(_), true) => e.add("supplier_lot", "Give the supplier's lot code, as printed on its label."),
            (Some(supplier), false) => {
                let ids: Vec<Uuid> = sqlx::query_scalar(
                    "select id from lots where supplier_id = $1 and upper(supplier_lot) = upper($2) order by made_on, code",
                )
                .bind(supplier)
                .bind(supplier_lot)
                .fetch_all(pool)
                .await?;
                if ids.is_empty() {
                    e.add(
                        "supplier_lot",
                        format!("No lot of ours was received from this supplier as lot “{supplier_lot}”."),
                    );
                }
                found.extend(ids);
            }
        }
    }
    found.sort();
    found.dedup();
    if found.is_empty() && e.get("lots").is_none() && e.get("supplier_lot").is_none() && e.get("supplier_id").is_none()
    {
        e.add("lots", "Name at least one suspect lot, or the supplier's recalled lot.");
    }
    Ok(found)
}

/// Opens a recall: checks the form, signs, and — for a real recall behind the gate — computes the
/// scope, freezes it and holds every lot in scope, in one transaction. Returns the recall's id.
pub async fn open(pool: &PgPool, user: &Person, f: &OpenRecall) -> Result<Uuid, SaveError> {
    let mut e = FieldErrors::default();
    let (key, mock, class, mode, threshold) = (f.key, f.mock, f.class, f.mode, f.threshold);
    if class.is_none() && !mock {
        e.add("class", "A real recall has a class: choose I, II or III.");
    }
    let check_level = f.check_level.unwrap_or_else(|| class.map_or(CheckLevel::A, RecallClass::default_check_level));
    let check_percent = match (check_level, f.check_percent) {
        (CheckLevel::B, None) => Some(Decimal::from(crate::domain::vocab::B_DEFAULT_PERCENT)),
        (CheckLevel::B, Some(p)) if p > Decimal::TEN && p < Decimal::ONE_HUNDRED && p.scale() <= 2 => Some(p),
        (CheckLevel::B, Some(_)) => {
            e.add("check_percent", "Level B checks a share above 10 % and below 100 % of consignees, such as 25.");
            None
        }
        (_, None) => None,
        (level, Some(_)) => {
            e.add("check_percent", format!("Only level B takes a share of consignees; level {level} sets its own."));
            None
        }
    };
    let reason = e.check("reason", text::required(&f.reason, "The reason for the recall", 2000));
    let threshold_reason = f.threshold_reason.trim();
    if threshold.is_some() {
        if class == Some(RecallClass::I) {
            e.add("threshold", "Lots are never scoped out of a class I recall: every lot that received suspect material stays in scope.");
        }
        if mode == Mode::LotLevel {
            e.add("threshold", "A threshold needs concentrations, which only the precise scope computes.");
        }
        if threshold_reason.is_empty() {
            e.add("threshold_reason", "Give the reason for scoping out lots below the threshold.");
        }
    }
    if f.password.is_empty() {
        e.add("password", "Your password is needed to sign the opening of the recall.");
    }
    let suspects = resolve_suspects(pool, &f.suspects, &mut e).await?;
    if !e.is_empty() {
        return Err(SaveError::Invalid(e));
    }
    let supplier: Option<(Uuid, String)> = match f.suspects.supplier {
        Some(id) if !f.suspects.supplier_lot.trim().is_empty() => {
            Some((id, f.suspects.supplier_lot.trim().to_string()))
        }
        _ => None,
    };

    let mut tx = pool.begin().await?;
    let id = Uuid::new_v4();
    if let Some(earlier) = claim_idempotency_key(
        &mut tx,
        &Claim::new(key, "recall.open", Some(user.id), &(&f.suspects, f.class, f.mock, &f.reason)),
        &id.to_string(),
    )
    .await?
    {
        return Ok(earlier
            .parse()
            .map_err(|_| Error::Conflict("This form was used already; reload the page.".into()))?);
    }
    let meaning = if mock { "mock recall opened by" } else { "recall opened by" };
    let credentials = crate::auth::Credentials { user_name: &f.signer, password: &f.password };
    let act =
        |meaning| crate::auth::Act { meaning, entity_type: "recall", entity_id: id.to_string(), field: "password" };
    let signature = crate::auth::sign(pool, &mut tx, user, &credentials, &act(meaning)).await?;
    let threshold_signature = match threshold {
        Some(_) => Some(
            crate::auth::sign(pool, &mut tx, user, &credentials, &act("lots below the threshold scoped out by"))
                .await?,
        ),
        None => None,
    };
    let number: String = sqlx::query_scalar(
        "insert into recalls (id, number, mock, class, reason, mode, supplier_id, supplier_lot, opened_by, opened_signature,
                              check_level, threshold, threshold_reason, threshold_signature, check_percent)
         values ($1, 'RC-' || lpad(nextval('recall_number_seq')::text, 6, '0'), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
         returning number",
    )
    .bind(id)
    .bind(mock)
    .bind(class)
    .bind(&reason)
    .bind(if mode == Mode::Precise { "precise" } else { "lot_level" })
    .bind(supplier.as_ref().map(|s| s.0))
    .bind(supplier.as_ref().map(|s| s.1.clone()))
    .bind(user.id)
    .bind(signature)
    .bind(check_level)
    .bind(threshold)
    .bind(threshold.map(|_| threshold_reason))
    .bind(threshold_signature)
    .bind(check_percent)
    .fetch_one(&mut *tx)
    .await
    ?;
    sqlx::query("insert into recall_suspects (recall_id, lot_id) select $1, unnest($2::uuid[])")
        .bind(id)
        .bind(&suspects)
        .execute(&mut *tx)
        .await?;
    let scope = scope_behind_gate(&mut tx, pool, &suspects, mode, threshold, !mock).await?;
    let stored = store_scope(&mut tx, user, id, &number, &scope, "opened", signature, !mock).await?;
    let entry = Entry::new(if mock { "open_mock_recall" } else { "open_recall" }, "recall", id)
        .after(&serde_json::json!({
            "number": number, "class": class, "mode": mode, "lots": scope.0.in_scope_count(),
            "held": stored.held, "scope_hash": stored.hash, "threshold": threshold,
        }))
        .reason(&reason);
    audit::record(&mut tx, &user.actor(), entry).await?;
    tx.commit().await?;
    Ok(id)
}

/// Takes the gate (a real recall) and computes the scope behind it, timing the work.
pub(crate) async fn scope_behind_gate(
    tx: &mut PgConnection,
    pool: &PgPool,
    suspects: &[Uuid],
    mode: Mode,
    threshold: Option<Decimal>,
    gate: bool,
) -> Result<(Scope, u32), Error> {
    if gate {
        sqlx::query("select pg_advisory_xact_lock($1)").bind(GATE).execute(&mut *tx).await?;
    }
    let clock = std::time::Instant::now();
    let scope = compute_scope(pool, suspects, mode, threshold).await?;
    Ok((scope, clock.elapsed().as_millis().min(i32::MAX as u128) as u32))
}

pub(crate) struct Stored {
    pub(crate) hash: String,
    pub(crate) held: u64,
}

/// Writes a scope: the frozen document, the recall's lots, and (a real recall) a hold on every
/// lot in scope that has no open hold of this recall yet. A lot with no stock today is held too:
/// a customer return or a reversal can bring stock back.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn store_scope(
    tx: &mut PgConnection,
    user: &Person,
    recall: Uuid,
    number: &str,
    (scope, computed_ms): &(Scope, u32),
    reason: &str,
    signature: Uuid,
    hold: bool,
) -> Result<Stored, Error> {
    let document = serde_json::to_string(scope).map_err(|e| Error::Internal(e.into()))?;
    let hash = Sha256::digest(document.as_bytes()).to_vec();
    sqlx::query(
        "insert into recall_scopes (recall_id, mode, reason, document, hash, as_of, computed_ms, created_by, signature_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(recall)
    .bind(if scope.mode == Mode::Precise { "precise" } else { "lot_level" })
    .bind(reason)
    .bind(&document)
    .bind(&hash)
    .bind(scope.as_of)
    .bind(*computed_ms as i32)
    .bind(user.id)
    .bind(signature)
    .execute(&mut *tx)
    .await?;
    let ids: Vec<Uuid> = scope.lots.iter().map(|l| l.id).collect();
    let depths: Vec<i32> = scope.lots.iter().map(|l| l.depth as i32).collect();
    let shares: Vec<Option<Decimal>> = scope.lots.iter().map(|l| l.share).collect();
    let concentrations: Vec<Option<Decimal>> = scope.lots.iter().map(|l| l.concentration).collect();
    let excluded: Vec<bool> = scope.lots.iter().map(|l| l.excluded).collect();
    let why = scope.threshold.map(|t| format!("below the threshold of {}", percent(Some(t))));
    sqlx::query(
        "insert into recall_lots (recall_id, lot_id, depth, share, concentration, excluded, exclude_reason)
         select $1, l, d, s, c, x, case when x then $7 end
           from unnest($2::uuid[], $3::int[], $4::numeric[], $5::numeric[], $6::bool[]) as t(l, d, s, c, x)
         on conflict (recall_id, lot_id) do update
            set depth = excluded.depth, share = excluded.share, concentration = excluded.concentration,
                excluded = excluded.excluded, exclude_reason = excluded.exclude_reason",
    )
    .bind(recall)
    .bind(&ids)
    .bind(&depths)
    .bind(&shares)
    .bind(&concentrations)
    .bind(&excluded)
    .bind(why)
    .execute(&mut *tx)
    .await?;
    let held = if hold {
        let held_ids: Vec<Uuid> = scope.in_scope().map(|l| l.id).collect();
        sqlx::query(
            "insert into lot_holds (lot_id, source, recall_id, reason, opened_by)
             select l, 'recall', $2, $3, $4 from unnest($1::uuid[]) as l
              where not exists (select 1 from lot_holds h where h.lot_id = l and h.recall_id = $2 and h.closed_at is null)",
        )
        .bind(&held_ids)
        .bind(recall)
        .bind(format!("Recall {number}"))
        .bind(user.id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        0
    };
    Ok(Stored { hash: audit::hex(&hash), held })
}
