//! Checking the master data and lots of the folder before anything is written: each problem
//! named with its file, line and column.

use super::*;

/// A material the folder adds: code, name, kind, unit, shelf life in days.
pub(super) type NewMaterial = (String, String, String, String, Option<i32>);

/// A party by code: its name and whether it supplies and buys.
pub(super) type Roles = BTreeMap<String, (String, bool, bool)>;

/// The folder's materials checked against the units and the materials already known: each
/// material's unit (known and new), and the new ones.
pub(super) async fn check_materials(
    pool: &PgPool,
    materials: Option<&Table>,
    p: &mut Problems,
) -> anyhow::Result<(HashMap<String, String>, Vec<NewMaterial>)> {
    // Materials: the file's, and those already known.
    let units: Vec<(String, String, String)> =
        sqlx::query_as("select code, name, unece from units order by dimension, to_base").fetch_all(pool).await?;
    let known: Vec<(String, Uuid, String)> =
        sqlx::query_as("select code, id, uom from materials").fetch_all(pool).await?;
    let mut material_uom: HashMap<String, String> = known.iter().map(|(c, _, u)| (c.clone(), u.clone())).collect();
    let mut new_materials: Vec<(String, String, String, String, Option<i32>)> = Vec::new();
    if let Some(t) = materials {
        for (line, row) in &t.rows {
            let Some(code) = p.check(&t.name, *line, "code", text::code(get(row, "code"), "The code", 20, "-._"))
            else {
                continue;
            };
            let name = get(row, "name");
            if name.is_empty() {
                p.add(&t.name, *line, "name", "the name is empty");
            }
            let kind = get(row, "kind");
            if kind.parse::<crate::domain::vocab::MaterialKind>().is_err() {
                p.add(
                    &t.name,
                    *line,
                    "kind",
                    format!("“{kind}” is not a kind (raw, packaging, intermediate, finished)"),
                );
            }
            // The unit as the file spells it: lotline's code, its name, the UN/ECE code or a common
            // word (unit, pcs, each, KGM…), the same rule as the pages.
            let typed = get(row, "uom");
            let uom = crate::domain::quantity::unit_named(typed, &units).unwrap_or_else(|| {
                let known: Vec<&str> = units.iter().map(|u| u.0.as_str()).collect();
                p.add(&t.name, *line, "uom", format!("“{typed}” is not a unit lotline knows ({})", known.join(", ")));
                typed
            });
            let shelf = match get(row, "shelf_life_days") {
                "" => None,
                s => match s.parse::<i32>() {
                    Ok(d) if (1..=36500).contains(&d) => Some(d),
                    _ => {
                        p.add(&t.name, *line, "shelf_life_days", format!("“{s}” is not a number of days"));
                        None
                    }
                },
            };
            if material_uom.contains_key(&code) {
                if !known.iter().any(|(c, _, _)| *c == code) {
                    p.add(&t.name, *line, "code", format!("material {code} appears twice"));
                }
                continue;
            }
            material_uom.insert(code.clone(), uom.to_string());
            new_materials.push((code, name.to_string(), kind.to_string(), uom.to_string(), shelf));
        }
    }

    Ok((material_uom, new_materials))
}

/// The folder's parties: every party's roles (known and new), and the new ones.
pub(super) async fn check_parties(
    pool: &PgPool,
    parties: Option<&Table>,
    p: &mut Problems,
) -> anyhow::Result<(Roles, Roles)> {
    // Parties: suppliers and customers (a party with both roles appears twice).
    let known_parties: Vec<(String, bool, bool)> =
        sqlx::query_as("select code, is_supplier, is_customer from parties").fetch_all(pool).await?;
    let mut roles: BTreeMap<String, (String, bool, bool)> = BTreeMap::new();
    for (c, s, cu) in &known_parties {
        roles.insert(c.clone(), (String::new(), *s, *cu));
    }
    let mut new_parties: BTreeMap<String, (String, bool, bool)> = BTreeMap::new();
    if let Some(t) = parties {
        for (line, row) in &t.rows {
            let Some(code) = p.check(&t.name, *line, "code", text::code(get(row, "code"), "The code", 20, "-._"))
            else {
                continue;
            };
            let role = get(row, "role");
            if role != "supplier" && role != "customer" {
                p.add(&t.name, *line, "role", format!("“{role}” is not a role (supplier or customer)"));
                continue;
            }
            let entry = new_parties.entry(code.clone()).or_insert((get(row, "name").to_string(), false, false));
            if role == "supplier" {
                entry.1 = true;
            } else {
                entry.2 = true;
            }
            let all = roles.entry(code).or_insert((String::new(), false, false));
            all.1 |= role == "supplier";
            all.2 |= role == "customer";
        }
    }

    Ok((roles, new_parties))
}

/// The folder's lots, checked against the materials, the suppliers and the lots already there;
/// each lot code's places among them (a code two materials share names two lots).
pub(super) async fn check_lots(
    pool: &PgPool,
    lots: &Table,
    material_uom: &HashMap<String, String>,
    roles: &Roles,
    p: &mut Problems,
) -> anyhow::Result<(Vec<LotRow>, HashMap<String, Vec<usize>>)> {
    // Lots.
    let units: Vec<(String, String, String)> =
        sqlx::query_as("select code, name, unece from units").fetch_all(pool).await?;
    let mut lot_rows: Vec<LotRow> = Vec::new();
    let mut by_key: HashMap<(String, String), usize> = HashMap::new();
    let mut by_code: HashMap<String, Vec<usize>> = HashMap::new();
    let existing: Vec<(String, String)> =
        sqlx::query_as("select m.code, l.code from lots l join materials m on m.id = l.material_id")
            .fetch_all(pool)
            .await?;
    let existing: HashSet<(String, String)> = existing.into_iter().collect();
    for (line, row) in &lots.rows {
        let file = &lots.name;
        let code = get(row, "lot_code").to_string();
        if code.is_empty() || code.chars().count() > 20 || !code.chars().all(is_cset82) {
            p.add(file, *line, "lot_code", format!("“{code}” is not a lot code (1–20 characters of GS1's set)"));
            continue;
        }
        let material = get(row, "material_code").to_ascii_uppercase();
        let Some(uom) = material_uom.get(&material) else {
            p.add(file, *line, "material_code", format!("there is no material “{material}”"));
            continue;
        };
        let unit = get(row, "uom");
        if !unit.is_empty() && crate::domain::quantity::unit_named(unit, &units) != Some(uom.as_str()) {
            p.add(file, *line, "uom", format!("material {material} is counted in {uom}, not {unit}"));
        }
        let Some(qty) = p.check(file, *line, "quantity", quantity(get(row, "quantity"))) else {
            continue;
        };
        let created = match parse_time(get(row, "created_on")) {
            Ok(t) => t,
            Err(m) => {
                p.add(file, *line, "created_on", m);
                continue;
            }
        };
        let expires_on = match get(row, "expires_on") {
            "" => None,
            e => match NaiveDate::parse_from_str(e, "%Y-%m-%d")
                .map_err(|_| format!("“{e}” is not a date"))
                .and_then(|d| crate::domain::dates::in_range(d, "The expiry date"))
            {
                Ok(d) if d >= created.date_naive() => Some(d),
                Ok(_) => {
                    p.add(file, *line, "expires_on", "the lot expires before it was made");
                    continue;
                }
                Err(m) => {
                    p.add(file, *line, "expires_on", m);
                    continue;
                }
            },
        };
        let origin = get(row, "origin");
        if origin != "received" && origin != "produced" {
            p.add(file, *line, "origin", format!("“{origin}” is not an origin (received or produced)"));
            continue;
        }
        let supplier = match get(row, "supplier_code") {
            "" => None,
            s => {
                let s = s.to_ascii_uppercase();
                if !roles.get(&s).is_some_and(|r| r.1) {
                    p.add(file, *line, "supplier_code", format!("“{s}” is not a supplier"));
                }
                Some(s)
            }
        };
        let key = (material.clone(), code.clone());
        if by_key.contains_key(&key) || existing.contains(&key) {
            p.add(file, *line, "lot_code", format!("material {material} has a lot “{code}” already"));
            continue;
        }
        by_key.insert(key, lot_rows.len());
        by_code.entry(code.clone()).or_default().push(lot_rows.len());
        lot_rows.push(LotRow {
            line: *line,
            code,
            material,
            quantity: qty,
            created,
            expires_on,
            received: origin == "received",
            supplier,
            supplier_lot: Some(get(row, "supplier_lot").to_string()).filter(|s| !s.is_empty()),
        });
    }
    Ok((lot_rows, by_code))
}
