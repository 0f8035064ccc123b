//! The ledger through its operations, without HTTP: movements, corrections and the mass balance
//! as `ledger::balances` folds them for the lot page and recall scopes alike.

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::builders::{LotBuilder, id, tester};
use crate::helpers::{Demo, demo_database};
use lotline::ledger::{self, Movement, Refusal};
use lotline::stock::moves;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

async fn on_hand(pool: &sqlx::PgPool, lot: Uuid, location: &str) -> Decimal {
    sqlx::query_scalar(
        "select coalesce((select o.quantity from on_hand o join locations c on c.id = o.location_id
                           where o.lot_id = $1 and c.code = $2), 0)",
    )
    .bind(lot)
    .bind(location)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A dough run opened at the demo plant, through the operation.
async fn dough_run(pool: &sqlx::PgPool, actor: &lotline::audit::Actor) -> Uuid {
    let run = lotline::stock::production::OpenRun {
        site: id(pool, "sites", "RVS").await,
        line: None,
        output_material: id(pool, "materials", "DOUGH-BR").await,
        planned_quantity: None,
        order_ref: None,
        key: Uuid::new_v4(),
    };
    lotline::stock::production::open(pool, actor, &run).await.unwrap()
}

#[tokio::test]
async fn a_transfer_and_its_reversal_leave_the_stock_where_it_was_and_the_balance_never_adjusted() {
    let pool = demo_database(Demo::Master).await;
    let actor = tester(&pool).await.actor();
    let salt = LotBuilder::received("SALT", "10").released().build(&pool).await;
    let (dock, raw) = (id(&pool, "locations", "DOCK").await, id(&pool, "locations", "RAW-A").await);
    moves::transfer(&pool, &actor, salt.id, &moves::Transfer { from: dock, to: raw, quantity: d("4") }).await.unwrap();
    assert_eq!((on_hand(&pool, salt.id, "DOCK").await, on_hand(&pool, salt.id, "RAW-A").await), (d("6"), d("4")));

    let leg: i64 = sqlx::query_scalar("select id from stock_movements where lot_id = $1 and kind = 'transfer' limit 1")
        .bind(salt.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let undo = moves::Reverse {
        movement: leg,
        reason: "Moved the wrong pallet".into(),
        confirmed: true,
        ..Default::default()
    };
    moves::reverse(&pool, &tester(&pool).await, salt.id, &undo).await.unwrap();
    assert_eq!((on_hand(&pool, salt.id, "DOCK").await, on_hand(&pool, salt.id, "RAW-A").await), (d("10"), d("0")));

    let mut conn = pool.acquire().await.unwrap();
    let balance = ledger::balances(&mut conn, &[salt.id]).await.unwrap().remove(&salt.id).unwrap();
    assert_eq!((balance.received, balance.transferred, balance.adjusted), (d("10"), d("0"), d("0")));
    assert_eq!(balance.on_hand, d("10"));
    assert!(balance.agrees());
}

#[tokio::test]
async fn the_ledger_refuses_a_movement_below_zero_with_what_is_there_and_the_transaction_goes_on() {
    let pool = demo_database(Demo::Master).await;
    let actor = tester(&pool).await.actor();
    let salt = LotBuilder::received("SALT", "10").released().build(&pool).await;
    let dock = id(&pool, "locations", "DOCK").await;
    let mut tx = pool.begin().await.unwrap();
    let scrap = Movement::new(lotline::domain::vocab::MovementKind::Scrap, salt.id, dock, d("-11"), Uuid::new_v4())
        .reason("Wet bags");
    match ledger::post(&mut tx, &actor, &scrap).await {
        Err(Refusal::Short(short)) => {
            assert_eq!((short.on_hand, short.wanted), (d("10"), d("11")));
            assert_eq!(
                short.message(),
                format!("Only 10 kg of lot {} is on hand at DOCK; 11 kg cannot be taken.", salt.code)
            );
        }
        other => panic!("refused as short, not {other:?}"),
    }
    // The refusal rolled back to its savepoint: the same transaction can post what is there.
    let all = Movement::new(lotline::domain::vocab::MovementKind::Scrap, salt.id, dock, d("-10"), Uuid::new_v4())
        .reason("Wet bags");
    ledger::post(&mut tx, &actor, &all).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(on_hand(&pool, salt.id, "DOCK").await, d("0"));
}

#[tokio::test]
async fn a_reversed_consumption_is_no_longer_consumed_and_its_links_stop_counting() {
    use lotline::stock::production::{self, LotPick, PostInput, PostOutput};
    let pool = demo_database(Demo::Master).await;
    let actor = tester(&pool).await.actor();
    let flour = LotBuilder::received("FLOUR-T55", "100").at("RAW-A").released().build(&pool).await;
    let run = dough_run(&pool, &actor).await;
    let input =
        PostInput { lot: LotPick::Code(flour.code.clone()), quantity: d("30"), location: None, key: Uuid::new_v4() };
    let consumed = production::post_input(&pool, &actor, run, &input).await.unwrap().movement;
    let output = PostOutput {
        quantity: d("30"),
        location: id(&pool, "locations", "LINE-1").await,
        topup: None,
        key: Uuid::new_v4(),
    };
    production::post_output(&pool, &actor, run, &output).await.unwrap();

    let undo =
        moves::Reverse { movement: consumed, reason: "Wrong flour lot".into(), confirmed: true, ..Default::default() };
    moves::reverse(&pool, &tester(&pool).await, flour.id, &undo).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let balance = ledger::balances(&mut conn, &[flour.id]).await.unwrap().remove(&flour.id).unwrap();
    assert_eq!((balance.consumed, balance.adjusted, balance.on_hand), (d("0"), d("0"), d("100")));
    let live: i64 =
        sqlx::query_scalar("select count(*) from genealogy_links where from_lot_id = $1 and reversed_at is null")
            .bind(flour.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(live, 0, "the reversed consumption's links no longer count");
}

#[tokio::test]
async fn a_tenth_of_a_gram_is_neither_received_nor_consumed_and_pieces_are_whole() {
    use lotline::stock::production::{self, LotPick, PostInput};
    let pool = demo_database(Demo::Master).await;
    let actor = tester(&pool).await.actor();
    let flour = LotBuilder::received("FLOUR-T55", "100").at("RAW-A").released().build(&pool).await;
    let run = dough_run(&pool, &actor).await;
    let speck = PostInput { lot: LotPick::Id(flour.id), quantity: d("0.0001"), location: None, key: Uuid::new_v4() };
    match production::post_input(&pool, &actor, run, &speck).await {
        Err(lotline::save::SaveError::Invalid(e)) => {
            assert_eq!(e.get("quantity"), Some("0.0001 kg is finer than kg records: the smallest amount is 0.001 kg."))
        }
        other => panic!("refused next to the quantity, not {other:?}"),
    }
    let gram = PostInput { lot: LotPick::Id(flour.id), quantity: d("0.001"), location: None, key: Uuid::new_v4() };
    production::post_input(&pool, &actor, run, &gram).await.expect("a gram is a consumption");

    // A receipt of half a bag of film (counted in pieces) is refused before anything is written.
    let lots = sqlx::query_scalar::<_, i64>("select count(*) from lots").fetch_one(&pool).await.unwrap();
    let input = lotline::stock::receive::ReceiptInput {
        site_id: id(&pool, "sites", "RVS").await,
        supplier_id: id(&pool, "parties", "PRAIRIE-MILL").await,
        received_on: None,
        order_ref: String::new(),
        asn_ref: String::new(),
        lines: vec![lotline::stock::receive::LineInput {
            material_id: id(&pool, "materials", "FILM-BR").await,
            supplier_lot: None,
            quantity: d("2.5"),
            location_id: id(&pool, "locations", "DOCK").await,
            expires_on: None,
            country_of_origin: None,
        }],
    };
    match lotline::stock::receive::receive(&pool, &actor, &input, Uuid::new_v4()).await {
        Err(lotline::save::SaveError::Invalid(e)) => {
            assert!(e.get("line1").unwrap().contains("2.5 ea is finer than ea records"), "{e:?}")
        }
        other => panic!("refused next to the line, not {other:?}"),
    }
    assert_eq!(sqlx::query_scalar::<_, i64>("select count(*) from lots").fetch_one(&pool).await.unwrap(), lots);
}

#[tokio::test]
async fn the_ledger_refuses_a_movement_ahead_of_the_clock_or_outside_2000_to_2100() {
    let pool = demo_database(Demo::Master).await;
    let actor = tester(&pool).await.actor();
    let salt = LotBuilder::received("SALT", "10").released().build(&pool).await;
    let dock = id(&pool, "locations", "DOCK").await;
    let mut tx = pool.begin().await.unwrap();
    let scrap = |at: chrono::DateTime<chrono::Utc>| {
        Movement::new(lotline::domain::vocab::MovementKind::Scrap, salt.id, dock, d("-1"), Uuid::new_v4())
            .reason("Wet bags")
            .at(at)
    };
    let now = chrono::Utc::now();
    for (at, needle) in [
        (now + chrono::Duration::hours(1), "cannot be in the future"),
        ("2101-01-01T00:00:00Z".parse().unwrap(), "between 2000 and 2100"),
    ] {
        match ledger::post(&mut tx, &actor, &scrap(at)).await {
            Err(Refusal::Refused(message)) => assert!(message.contains(needle), "{message}"),
            other => panic!("refused, not {other:?}"),
        }
    }
    // A clock a few minutes behind the floor's is not a refusal.
    ledger::post(&mut tx, &actor, &scrap(now + chrono::Duration::minutes(5))).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(on_hand(&pool, salt.id, "DOCK").await, d("9"));
}
