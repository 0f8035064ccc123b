//! The small demo plant of `serve --demo`: master data of a bakery, loaded through the same
//! operations the pages use. Later capabilities add lots made through the real flows.

use anyhow::{Result, anyhow};
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::Actor;
use crate::auth::users::{self, UserForm};
use crate::domain::gs1;
use crate::master::locations::{self, LocationForm, LocationInput};
use crate::master::materials::{self, GtinForm, MaterialForm, MaterialInput};
use crate::master::parties::{self, ContactForm, PartyForm, PartyInput};
use crate::master::sites::{self, SiteForm, SiteInput};
use crate::web::forms::SaveError;

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
        "1200 Mill Road\nSpringfield, IL 62701\nUSA",
        "America/Chicago",
        Some("061414100002"),
    )
    .await?;
    let dc = site(
        pool,
        "DC1",
        "Central Distribution Center",
        "88 Logistics Way\nPeoria, IL 61602\nUSA",
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
            shelf_life_days: shelf.into(),
            expiry_policy: policy.into(),
            qa_required: qa.then(|| "on".into()),
            ftl: ftl.then(|| "on".into()),
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
    tracing::info!("demo plant loaded");
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

async fn site(pool: &PgPool, code: &str, name: &str, address: &str, tz: &str, gln_data: Option<&str>) -> Result<Uuid> {
    let form = SiteForm {
        code: code.into(),
        name: name.into(),
        address: address.into(),
        gln: gln_data.map(gtin).unwrap_or_default(),
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
