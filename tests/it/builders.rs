//! Test data made through the operations themselves, as a plant makes it: a lot is received by
//! the receive operation and released by a signed QA decision, never inserted behind their back.

use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::PASSWORD;

/// `tester`, who holds every role in the demo templates, as operations know a person.
pub async fn tester(pool: &PgPool) -> lotline::audit::Person {
    let id = sqlx::query_scalar("select id from users where username = 'tester'").fetch_one(pool).await.unwrap();
    lotline::audit::Person { id, username: "tester".into(), session: None }
}

/// The id of the row of `table` with `code`.
pub async fn id(pool: &PgPool, table: &str, code: &str) -> Uuid {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("select id from {table} where code = $1")))
        .bind(code)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{table} {code}: {e}"))
}

/// A lot received at the demo plant (site RVS, from PRAIRIE-MILL), released if asked.
pub struct LotBuilder {
    material: &'static str,
    quantity: Decimal,
    location: &'static str,
    released: bool,
}

/// A lot the builder made.
pub struct Lot {
    pub id: Uuid,
    pub code: String,
}

impl LotBuilder {
    pub fn received(material: &'static str, quantity: &str) -> LotBuilder {
        LotBuilder { material, quantity: quantity.parse().unwrap(), location: "DOCK", released: false }
    }

    pub fn at(mut self, location: &'static str) -> LotBuilder {
        self.location = location;
        self
    }

    pub fn released(mut self) -> LotBuilder {
        self.released = true;
        self
    }

    pub async fn build(self, pool: &PgPool) -> Lot {
        use lotline::stock::receive::{LineInput, ReceiptInput, receive};
        let input = ReceiptInput {
            site_id: id(pool, "sites", "RVS").await,
            supplier_id: id(pool, "parties", "PRAIRIE-MILL").await,
            received_on: None,
            order_ref: String::new(),
            asn_ref: String::new(),
            lines: vec![LineInput {
                material_id: id(pool, "materials", self.material).await,
                supplier_lot: Some("SUP-1".into()),
                quantity: self.quantity,
                location_id: id(pool, "locations", self.location).await,
                expires_on: None,
                country_of_origin: None,
            }],
        };
        let actor = tester(pool).await.actor();
        let received = receive(pool, &actor, &input, Uuid::new_v4()).await.expect("the receipt is saved");
        let (id, code) = received.lots[0].clone();
        let disposition: String =
            sqlx::query_scalar("select disposition from lots where id = $1").bind(id).fetch_one(pool).await.unwrap();
        if self.released && disposition == "quarantine" {
            let signed =
                lotline::qa::DecisionForm { reason: String::new(), signer: "tester".into(), password: PASSWORD.into() };
            let released = lotline::domain::vocab::Disposition::Released;
            lotline::qa::decide(pool, &tester(pool).await, id, released, &signed).await.expect("QA releases it");
        }
        Lot { id, code }
    }
}
