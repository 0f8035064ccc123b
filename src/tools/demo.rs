//! The small demo plant of `serve --demo`: master data of a bakery, loaded through the same
//! operations the pages use. Later capabilities add lots made through the real flows.

use anyhow::{Context, Result, anyhow};
use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::Actor;
use crate::auth::users::{self, UserForm};
use crate::domain::gs1;
use crate::domain::vocab::Disposition;
use crate::master::locations::{self, LocationForm, LocationInput};
use crate::master::materials::{self, GtinForm, MaterialForm, MaterialInput};
use crate::master::parties::{self, ContactForm, PartyForm, PartyInput};
use crate::master::sites::{self, SiteForm, SiteInput};
use crate::save::SaveError;
use crate::stock::{production, receive, ship};

/// The demo accounts, one per role; each one's password is `<role>-demo-pass`.
pub const DEMO_USERS: [(&str, &str); 3] =
    [("operator", "Olive Operator"), ("qa", "Quinn Quality"), ("admin", "Ada Admin")];

/// What `serve --demo` prints so that a newcomer can sign in.
pub fn credentials() -> String {
    let mut text = String::from("Demo accounts (change their passwords or deactivate them before real use):\n");
    for (role, _) in DEMO_USERS {
        text.push_str(&format!("  user {role:<9} password {role}-demo-pass\n"));
    }
    text
}

/// Loads the demo plant into an empty database; leaves a database with data untouched.
pub async fn load(pool: &PgPool) -> Result<()> {
    let actor = Actor::system("demo");
    let has_users: bool = sqlx::query_scalar("select exists (select 1 from users)").fetch_one(pool).await?;
    if !has_users {
        demo_users(pool, &actor).await?;
    }
    let used: bool = sqlx::query_scalar("select exists (select 1 from sites) or exists (select 1 from materials)")
        .fetch_one(pool)
        .await?;
    if used {
        tracing::info!("the database already holds data; the demo plant is not loaded");
        return Ok(());
    }
    tracing::info!("loading the demo plant");

    let plant = site(
        pool,
        "RVS",
        "Riverside Bakery",
        "1200 Mill Road\nSpringfield, IL 62701",
        "+1 217 555 0142",
        "America/Chicago",
        Some("061414100002"),
    )
    .await?;
    let dc = site(
        pool,
        "DC1",
        "Central Distribution Center",
        "88 Logistics Way\nPeoria, IL 61602",
        "+1 309 555 0188",
        "America/Chicago",
        None,
    )
    .await?;
    for (site_id, code, name, kind) in [
        (plant, "DOCK", "Receiving dock", "receiving"),
        (plant, "QUAR", "Quarantine cage", "quarantine"),
        (plant, "RAW-A", "Raw materials, aisle A", "storage"),
        (plant, "COLD-1", "Cold store 1", "storage"),
        (plant, "SILO-1", "Flour silo 1", "storage"),
        (plant, "LINE-1", "Line 1 side", "production"),
        (plant, "FG", "Finished goods", "storage"),
        (plant, "SHIP", "Shipping bay", "shipping"),
        (dc, "STORE", "Ambient store", "storage"),
        (dc, "SHIP", "Outbound dock", "shipping"),
    ] {
        let form = LocationForm {
            site_id: site_id.to_string(),
            code: code.into(),
            name: name.into(),
            kind: kind.into(),
            active: Some("on".into()),
            ..Default::default()
        };
        let input = LocationInput::try_from(&form).map_err(|e| anyhow!("demo location {code}: {e:?}"))?;
        locations::create(pool, &actor, &input, Uuid::new_v4()).await.map_err(|e| save_error("location", code, e))?;
    }

    // (code, name, kind, uom, mass per unit kg, shelf life days, expiry policy, QA on receipt, FTL, GTIN item reference)
    let materials = [
        ("FLOUR-T55", "Wheat flour T55", "raw", "kg", "", "180", "shelf_life", true, false, None),
        ("SUGAR", "Cane sugar, fine", "raw", "kg", "", "730", "shelf_life", true, false, None),
        ("SALT", "Sea salt", "raw", "kg", "", "", "none", false, false, None),
        ("YEAST", "Fresh yeast", "raw", "kg", "", "45", "shelf_life", true, false, None),
        ("BUTTER", "Butter 82% fat", "raw", "kg", "", "90", "shelf_life", true, false, None),
        ("EGG-LIQ", "Liquid whole egg, pasteurised", "raw", "kg", "", "21", "shelf_life", true, true, None),
        ("FILM-BR", "Brioche bag film", "packaging", "ea", "0.004", "", "none", false, false, None),
        ("CARTON-12", "Shipping carton, 12 loaves", "packaging", "ea", "0.3", "", "none", false, false, None),
        ("DOUGH-BR", "Brioche dough", "intermediate", "kg", "", "", "earliest_input", false, false, None),
        ("BRIOCHE-400", "Brioche loaf 400 g", "finished", "ea", "0.4", "12", "shelf_life", true, true, Some("00401")),
        (
            "COOKIE-250",
            "Butter cookies 250 g",
            "finished",
            "ea",
            "0.25",
            "180",
            "shelf_life",
            true,
            false,
            Some("00402"),
        ),
    ];
    for (code, name, kind, uom, mass, shelf, policy, qa, ftl, item_ref) in materials {
        let form = MaterialForm {
            code: code.into(),
            name: name.into(),
            kind: kind.into(),
            uom: uom.into(),
            mass_per_unit_kg: mass.into(),
            // Cookies keep: their date is about quality, not safety.
            date_kind: if code == "COOKIE-250" { "best_before" } else { "use_by" }.into(),
            shelf_life_days: shelf.into(),
            expiry_policy: policy.into(),
            qa_required: qa.then(|| "on".into()),
            ftl: ftl.then(|| "on".into()),
            // What the consumer holds: the finished goods can be checked on the public page.
            public_lookup: (kind == "finished").then(|| "on".into()),
            public_dates: (kind == "finished").then(|| "on".into()),
            public_origin: (kind == "finished").then(|| "on".into()),
            active: Some("on".into()),
            ..Default::default()
        };
        let input = MaterialInput::try_from(&form).map_err(|e| anyhow!("demo material {code}: {e:?}"))?;
        let id = materials::create(pool, &actor, &input, Uuid::new_v4())
            .await
            .map_err(|e| save_error("material", code, e))?;
        if let Some(item_ref) = item_ref {
            // GS1 company prefix 0614141 (GS1's own example prefix), indicator 0 for the unit, 1 for the case.
            for (indicator, level, units) in [("0", "each", "1"), ("1", "case", "12")] {
                let form = GtinForm {
                    gtin: gtin(&format!("{indicator}0614141{item_ref}")),
                    pack_level: level.into(),
                    units_per_pack: units.into(),
                    company_prefix_length: "7".into(),
                };
                materials::add_gtin(pool, &actor, id, &form).await.map_err(|e| save_error("GTIN", &form.gtin, e))?;
            }
        }
    }

    // (code, name, supplier, customer, country, address, contact name, role, phone, e-mail)
    let parties = [
        (
            "PRAIRIE-MILL",
            "Prairie Mill Co.",
            true,
            false,
            "US",
            "400 Grain Elevator Rd, Salina, KS",
            "Dana Whitfield",
            "QA manager",
            "+1 785 555 0110",
            "quality@prairiemill.example",
        ),
        (
            "SWEETCANE",
            "SweetCane Refiners",
            true,
            false,
            "US",
            "12 Harbor St, Baton Rouge, LA",
            "Luis Ortega",
            "Customer service",
            "+1 225 555 0142",
            "orders@sweetcane.example",
        ),
        (
            "SALINAS",
            "Salinas Sea Salt",
            true,
            false,
            "PT",
            "Rua das Salinas 5, Aveiro",
            "Inês Costa",
            "Export desk",
            "+351 234 555 019",
            "export@salinas.example",
        ),
        (
            "VALLEY-DAIRY",
            "Valley Dairy Cooperative",
            true,
            false,
            "US",
            "77 Creamery Ln, Madison, WI",
            "Ruth Olsen",
            "QA lead",
            "+1 608 555 0177",
            "qa@valleydairy.example",
        ),
        (
            "SUNNY-EGGS",
            "Sunny Side Egg Products",
            true,
            false,
            "US",
            "9 Henhouse Rd, Lancaster, PA",
            "Tom Becker",
            "Food safety",
            "+1 717 555 0133",
            "foodsafety@sunnyside.example",
        ),
        (
            "PACKRITE",
            "PackRite Films",
            true,
            false,
            "US",
            "300 Polymer Dr, Akron, OH",
            "Grace Lin",
            "Account manager",
            "+1 330 555 0160",
            "grace.lin@packrite.example",
        ),
        (
            "FRESHMART",
            "FreshMart Stores",
            false,
            true,
            "US",
            "1 Market Plaza, Chicago, IL",
            "Alan Brooks",
            "Category buyer",
            "+1 312 555 0101",
            "bakery.buyer@freshmart.example",
        ),
        (
            "CORNER-GROCER",
            "Corner Grocers Ltd",
            false,
            true,
            "US",
            "55 Main St, Bloomington, IL",
            "Maya Patel",
            "Store manager",
            "+1 309 555 0188",
            "maya@cornergrocers.example",
        ),
        (
            "METRO-FS",
            "Metro Food Service",
            true,
            true,
            "US",
            "2500 Industrial Pkwy, St. Louis, MO",
            "Victor Hale",
            "Recall coordinator",
            "+1 314 555 0123",
            "recalls@metrofs.example",
        ),
    ];
    for (code, name, supplier, customer, country, address, contact, role, phone, email) in parties {
        let form = PartyForm {
            code: code.into(),
            name: name.into(),
            is_supplier: supplier.then(|| "on".into()),
            is_customer: customer.then(|| "on".into()),
            address: address.into(),
            country: country.into(),
            phone: phone.into(),
            email: email.into(),
            active: Some("on".into()),
            ..Default::default()
        };
        let input = PartyInput::try_from(&form).map_err(|e| anyhow!("demo party {code}: {e:?}"))?;
        let id =
            parties::create(pool, &actor, &input, Uuid::new_v4()).await.map_err(|e| save_error("party", code, e))?;
        let contact = ContactForm {
            name: contact.into(),
            role: role.into(),
            phone: phone.into(),
            email: email.into(),
            recall_contact: Some("on".into()),
        };
        parties::add_contact(pool, &actor, id, &contact).await.map_err(|e| save_error("contact", code, e))?;
    }
    sqlx::query("insert into production_lines (site_id, code, name) values ($1, 'L1', 'Dough and bake line'), ($1, 'L2', 'Cookie line')")
        .bind(plant)
        .execute(pool)
        .await?;
    flows(pool, plant).await?;
    tracing::info!("demo plant loaded");
    Ok(())
}

/// The plant's first days, made through the same operations the pages call: receipts, QA
/// releases, a dough run and a bake run, and shipments to three customers.
async fn flows(pool: &PgPool, plant: Uuid) -> Result<()> {
    let qa = sqlx::query_scalar::<_, Uuid>("select id from users where username = 'qa'").fetch_optional(pool).await?;
    let Some(qa_id) = qa else {
        tracing::info!("no demo QA account: the demo plant starts without lots");
        return Ok(());
    };
    let actor = Actor::system("demo");
    let qa_user = crate::audit::Person { id: qa_id, username: "qa".into(), session: None };
    let id = |sql: &'static str, code: &'static str| async move {
        sqlx::query_scalar::<_, Uuid>(sql).bind(code).fetch_one(pool).await.with_context(|| format!("demo: {code}"))
    };
    let location = |code: &'static str| {
        id("select id from locations where site_id = (select id from sites where code = 'RVS') and code = $1", code)
    };
    let material = |code: &'static str| id("select id from materials where code = $1", code);
    let party = |code: &'static str| id("select id from parties where code = $1", code);
    let today = Utc::now().date_naive();

    // (material, supplier, supplier lot, quantity, location, days ago, release)
    let deliveries = [
        ("FLOUR-T55", "PRAIRIE-MILL", "PM-24-1181", "1000", "SILO-1", 9, true),
        ("FLOUR-T55", "PRAIRIE-MILL", "PM-24-1190", "1000", "SILO-1", 4, true),
        ("SUGAR", "SWEETCANE", "SC-8812", "500", "RAW-A", 8, true),
        ("SALT", "SALINAS", "SAL-2026-07", "200", "RAW-A", 8, true),
        ("YEAST", "METRO-FS", "Y-5521", "40", "COLD-1", 6, true),
        ("BUTTER", "VALLEY-DAIRY", "VD-33017", "300", "COLD-1", 5, true),
        ("EGG-LIQ", "SUNNY-EGGS", "SSE-0912", "200", "COLD-1", 3, true),
        ("FILM-BR", "PACKRITE", "PR-77120", "5000", "RAW-A", 10, true),
        ("BUTTER", "VALLEY-DAIRY", "VD-33102", "300", "QUAR", 1, false),
    ];
    let mut lots = std::collections::HashMap::new();
    for (i, (mat, supplier, supplier_lot, quantity, loc, days, release)) in deliveries.into_iter().enumerate() {
        let input = receive::ReceiptInput {
            site_id: plant,
            supplier_id: party(supplier).await?,
            received_on: Some(today - chrono::Days::new(days)),
            order_ref: format!("PO-{}", 4100 + i),
            asn_ref: String::new(),
            lines: vec![receive::LineInput {
                material_id: material(mat).await?,
                supplier_lot: Some(supplier_lot.into()),
                quantity: quantity.parse()?,
                location_id: location(loc).await?,
                expires_on: None,
                country_of_origin: Some(if supplier == "SALINAS" { "PT".into() } else { "US".into() }),
            }],
        };
        let received =
            receive::receive(pool, &actor, &input, Uuid::new_v4()).await.map_err(|e| save_error("receipt", mat, e))?;
        let (lot_id, _) = received.lots[0].clone();
        if release {
            let disposition: String =
                sqlx::query_scalar("select disposition from lots where id = $1").bind(lot_id).fetch_one(pool).await?;
            if disposition == "quarantine" {
                let form = crate::qa::DecisionForm {
                    reason: String::new(),
                    signer: "qa".into(),
                    password: "qa-demo-pass".into(),
                };
                crate::qa::decide(pool, &qa_user, lot_id, Disposition::Released, &form)
                    .await
                    .map_err(|e| save_error("release", mat, e))?;
            }
        }
        lots.entry(mat).or_insert(lot_id);
    }

    let line =
        sqlx::query_scalar::<_, Uuid>("select id from production_lines where code = 'L1'").fetch_one(pool).await?;
    let open = |mat: &'static str| {
        let actor = actor.clone();
        async move {
            let run = production::OpenRun {
                site: plant,
                line: Some(line),
                output_material: material(mat).await?,
                planned_quantity: None,
                order_ref: Some("MO-2201".into()),
                key: Uuid::new_v4(),
            };
            production::open(pool, &actor, &run).await.map_err(|e| save_error("run", mat, e))
        }
    };
    let input = |run: Uuid, lot: Uuid, quantity: &'static str| {
        let actor = actor.clone();
        async move {
            let input = production::PostInput {
                lot: production::LotPick::Id(lot),
                quantity: quantity.parse()?,
                location: None,
                key: Uuid::new_v4(),
            };
            production::post_input(pool, &actor, run, &input).await.map_err(|e| save_error("input", quantity, e))
        }
    };
    let output = |run: Uuid, quantity: &'static str, loc: &'static str| {
        let actor = actor.clone();
        async move {
            let output = production::PostOutput {
                quantity: quantity.parse()?,
                location: location(loc).await?,
                topup: None,
                key: Uuid::new_v4(),
            };
            production::post_output(pool, &actor, run, &output).await.map_err(|e| save_error("output", quantity, e))
        }
    };
    let dough = open("DOUGH-BR").await?;
    for (mat, quantity) in
        [("FLOUR-T55", "200"), ("SUGAR", "20"), ("SALT", "4"), ("YEAST", "3"), ("BUTTER", "30"), ("EGG-LIQ", "25")]
    {
        input(dough, lots[mat], quantity).await?;
    }
    let (dough_lot, _) = output(dough, "280", "LINE-1").await?;
    production::close(pool, &actor, dough).await.map_err(|e| save_error("close", "dough", e))?;

    let bake = open("BRIOCHE-400").await?;
    input(bake, dough_lot, "264").await?;
    input(bake, lots["FILM-BR"], "660").await?;
    let (pallet_1, _) = output(bake, "330", "FG").await?;
    let (pallet_2, _) = output(bake, "330", "FG").await?;
    production::close(pool, &actor, bake).await.map_err(|e| save_error("close", "bake", e))?;
    for pallet in [pallet_1, pallet_2] {
        let form =
            crate::qa::DecisionForm { reason: String::new(), signer: "qa".into(), password: "qa-demo-pass".into() };
        crate::qa::decide(pool, &qa_user, pallet, Disposition::Released, &form)
            .await
            .map_err(|e| save_error("release", "brioche", e))?;
    }

    for (customer, lot, quantity, order) in [
        ("FRESHMART", pallet_1, "200", "FM-55120"),
        ("CORNER-GROCER", pallet_1, "100", "CG-0931"),
        ("METRO-FS", pallet_2, "150", "MFS-7781"),
    ] {
        let shipment = ship::Shipment {
            site: plant,
            customer: party(customer).await?,
            shipped_on: None,
            order_ref: order.into(),
            bol_ref: String::new(),
            asn_ref: String::new(),
            lines: vec![ship::ShipLine { row: 0, lot: lot.to_string(), quantity: quantity.parse()?, location: None }],
            pallets: 1,
            key: Uuid::new_v4(),
        };
        ship::ship(pool, &actor, &shipment).await.map_err(|e| save_error("shipment", customer, e))?;
    }
    Ok(())
}

/// One account per role, so that a newcomer can sign in (only into a database with no users).
async fn demo_users(pool: &PgPool, actor: &Actor) -> Result<()> {
    for (role, name) in DEMO_USERS {
        let form = UserForm {
            username: role.into(),
            display_name: name.into(),
            roles: vec![role.into()],
            password: format!("{role}-demo-pass"),
            ..Default::default()
        };
        users::create(pool, actor, &form).await.map_err(|e| save_error("user", role, e))?;
    }
    Ok(())
}

async fn site(
    pool: &PgPool,
    code: &str,
    name: &str,
    address: &str,
    phone: &str,
    tz: &str,
    gln_data: Option<&str>,
) -> Result<Uuid> {
    let form = SiteForm {
        code: code.into(),
        name: name.into(),
        address: address.into(),
        phone: phone.into(),
        country: "US".into(),
        gln: gln_data.map(gtin).unwrap_or_default(),
        // The demo company's prefix (GS1's example, 0614141), under which its pallets are numbered.
        company_prefix: if gln_data.is_some() { "0614141".into() } else { String::new() },
        time_zone: tz.into(),
        active: Some("on".into()),
        ..Default::default()
    };
    let input = SiteInput::try_from(&form).map_err(|e| anyhow!("demo site {code}: {e:?}"))?;
    sites::create(pool, &Actor::system("demo"), &input, Uuid::new_v4()).await.map_err(|e| save_error("site", code, e))
}

/// Appends the GS1 check digit to `data` digits.
fn gtin(data: &str) -> String {
    let digits: Vec<u32> = data.chars().filter_map(|c| c.to_digit(10)).collect();
    format!("{data}{}", gs1::check_digit(&digits))
}

fn save_error(what: &str, code: &str, err: SaveError) -> anyhow::Error {
    match err {
        SaveError::Invalid(errors) => anyhow!("demo {what} {code} was refused: {errors:?}"),
        SaveError::Stale => anyhow!("demo {what} {code}: stale"),
        SaveError::Other(e) => anyhow::Error::new(e).context(format!("Failed to create demo {what} {code}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_gtins_carry_valid_check_digits() {
        let g = super::gtin("0061414100401");
        assert_eq!(g.len(), 14);
        assert!(crate::domain::gs1::check_digit_ok(&g));
    }
}
