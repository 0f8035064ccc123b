//! Lot labels: the GS1 data of a lot — (01) GTIN, (11) production date, (17) expiry, (10) lot —
//! as a GS1-128 and a GS1 DataMatrix, drawn as SVG, with the human-readable line and the Digital
//! Link. Encoding is left to two small, well-kept crates (barcoders for Code 128, datamatrix for
//! ECC 200); this module plans the GS1 content and draws the modules.

use std::fmt::Write;

use chrono::NaiveDate;

use crate::domain::gs1::syntax::{self, Element, GS};

/// What a label says about a lot.
#[derive(Debug, Clone)]
pub struct LabelLot {
    pub gtin: Option<String>,
    pub lot: String,
    pub made_on: Option<NaiveDate>,
    pub expires_on: Option<NaiveDate>,
}

/// A drawn label's parts.
#[derive(Debug, Clone)]
pub struct Label {
    /// `(01)…(11)…(17)…(10)…`, or the bare lot code when the material has no GTIN.
    pub human: String,
    pub gs1: bool,
    pub gs1_128: String,
    pub datamatrix: Option<String>,
    pub digital_link: Option<String>,
}

/// The lot's GS1 elements: fixed-length ones first, the lot (variable) last, so that no
/// separator is needed. None without a GTIN.
pub fn elements(lot: &LabelLot) -> Option<Vec<Element>> {
    let gtin = lot.gtin.as_ref()?;
    let mut e = vec![Element { ai: "01".into(), value: gtin.clone() }];
    if let Some(d) = lot.made_on {
        e.push(Element { ai: "11".into(), value: d.format("%y%m%d").to_string() });
    }
    if let Some(d) = lot.expires_on {
        e.push(Element { ai: "17".into(), value: d.format("%y%m%d").to_string() });
    }
    e.push(Element { ai: "10".into(), value: lot.lot.clone() });
    Some(e)
}

/// Draws the label, or says why the lot's data cannot be a GS1 label.
pub fn draw(lot: &LabelLot, link_host: &str) -> Result<Label, String> {
    match elements(lot) {
        Some(elements) => {
            syntax::validate(&elements)?;
            let data = syntax::barcode_data(&elements);
            let gs1_128 = code128_svg(&code128_plan(&data, true), &syntax::human(&elements))?;
            let matrix = datamatrix::DataMatrix::encode_gs1(data.as_bytes(), datamatrix::SymbolList::default())
                .map_err(|e| format!("The DataMatrix cannot hold this data: {e:?}"))?;
            let digital_link = digital_link(&elements, link_host);
            Ok(Label {
                human: syntax::human(&elements),
                gs1: true,
                gs1_128,
                datamatrix: Some(matrix_svg(&matrix.bitmap())),
                digital_link: Some(digital_link),
            })
        }
        None => {
            // No GTIN: a plain Code 128 of the lot code, for our own scanners only.
            let gs1_128 = code128_svg(&code128_plan(&lot.lot, false), &lot.lot)?;
            Ok(Label { human: lot.lot.clone(), gs1: false, gs1_128, datamatrix: None, digital_link: None })
        }
    }
}

/// The Digital Link: GTIN and lot in the path, dates in the query.
pub fn digital_link(elements: &[Element], host: &str) -> String {
    let get = |ai: &str| elements.iter().find(|e| e.ai == ai).map(|e| e.value.as_str());
    let mut uri = format!("{}/01/{}", host.trim_end_matches('/'), get("01").unwrap_or_default());
    if let Some(lot) = get("10") {
        uri.push_str("/10/");
        uri.push_str(&crate::domain::text::percent_encode(lot));
    }
    let query: Vec<String> = ["11", "17"].iter().filter_map(|ai| get(ai).map(|v| format!("{ai}={v}"))).collect();
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(&query.join("&"));
    }
    uri
}

/// Code 128 in barcoders' notation: the start set, FNC1 after it for GS1 (`Ź`), runs of four or
/// more digits in set C (pairs), everything else in set B, GS written as FNC1.
pub fn code128_plan(data: &str, gs1: bool) -> String {
    const A_B: char = 'Ɓ';
    const A_C: char = 'Ć';
    const FNC1: char = 'Ź';
    let chars: Vec<char> = data.chars().collect();
    let mut out = String::new();
    let mut set: Option<char> = None;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == GS {
            if set.is_none() {
                set = Some(A_B);
                out.push(A_B);
            }
            out.push(FNC1);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if run >= 4 || (set.is_none() && run >= 2 && run == chars.len() && run.is_multiple_of(2)) {
            let even = run - run % 2;
            if set != Some(A_C) {
                out.push(A_C);
                set = Some(A_C);
            }
            out.extend(&chars[i..i + even]);
            i += even;
        } else {
            if set != Some(A_B) {
                out.push(A_B);
                set = Some(A_B);
            }
            out.push(chars[i]);
            i += 1;
        }
    }
    if gs1 {
        // FNC1 goes right after the start character.
        let mut it = out.chars();
        let start = it.next().unwrap_or(A_B);
        let rest: String = it.collect();
        format!("{start}{FNC1}{rest}")
    } else {
        out
    }
}

/// A Code 128 symbol as SVG: 2 px modules, 10-module quiet zones, the text under the bars.
fn code128_svg(plan: &str, text: &str) -> Result<String, String> {
    let code = barcoders::sym::code128::Code128::new(plan).map_err(|e| format!("Code 128 cannot encode this: {e}"))?;
    let modules = code.encode();
    let (module, quiet, height) = (2usize, 10usize, 70usize);
    let width = (modules.len() + 2 * quiet) * module;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="barcode gs1-128" viewBox="0 0 {width} {}" width="{width}" height="{}" role="img" aria-label="GS1-128 {}"><rect width="{width}" height="{}" fill="#fff"/>"##,
        height + 18,
        height + 18,
        escape(text),
        height + 18
    );
    let mut x = 0;
    while x < modules.len() {
        if modules[x] == 1 {
            let run = modules[x..].iter().take_while(|m| **m == 1).count();
            let _ = write!(
                svg,
                r##"<rect x="{}" y="0" width="{}" height="{height}" fill="#000"/>"##,
                (quiet + x) * module,
                run * module
            );
            x += run;
        } else {
            x += 1;
        }
    }
    let _ = write!(
        svg,
        r##"<text x="{}" y="{}" font-family="monospace" font-size="13" text-anchor="middle">{}</text></svg>"##,
        width / 2,
        height + 14,
        escape(text)
    );
    Ok(svg)
}

/// A DataMatrix as SVG: 4 px modules with a 2-module quiet zone.
fn matrix_svg(bitmap: &datamatrix::placement::Bitmap<bool>) -> String {
    let (module, quiet) = (4usize, 2usize);
    let (w, h) = ((bitmap.width() + 2 * quiet) * module, (bitmap.height() + 2 * quiet) * module);
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="barcode datamatrix" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="GS1 DataMatrix"><rect width="{w}" height="{h}" fill="#fff"/><path fill="#000" d=""##
    );
    for (x, y) in bitmap.pixels() {
        let _ = write!(svg, "M{},{}h{module}v{module}h-{module}z", (x + quiet) * module, (y + quiet) * module);
    }
    svg.push_str(r##""/></svg>"##);
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lot() -> LabelLot {
        LabelLot {
            gtin: Some("09506000134352".into()),
            lot: "AB-12".into(),
            made_on: NaiveDate::from_ymd_opt(2026, 11, 2),
            expires_on: NaiveDate::from_ymd_opt(2026, 12, 31),
        }
    }

    #[test]
    fn the_plan_starts_with_fnc1_and_packs_digits_in_pairs() {
        let data = syntax::barcode_data(&elements(&lot()).unwrap());
        assert_eq!(data, "0109506000134352112611021726123110AB-12");
        assert_eq!(code128_plan(&data, true), "ĆŹ0109506000134352112611021726123110ƁAB-12");
        assert_eq!(code128_plan("0101234567890128109X", true), "ĆŹ010123456789012810Ɓ9X");
        assert_eq!(code128_plan(&format!("10AB{GS}17261231"), true), "ƁŹ10ABŹĆ17261231");
    }

    #[test]
    fn the_datamatrix_reads_back_as_the_label_data() {
        let elements = elements(&lot()).unwrap();
        let data = syntax::barcode_data(&elements);
        let matrix = datamatrix::DataMatrix::encode_gs1(data.as_bytes(), datamatrix::SymbolList::default()).unwrap();
        let bitmap = matrix.bitmap();
        let decoded = datamatrix::DataMatrix::decode(bitmap.bits(), bitmap.width()).unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), data);
        assert_eq!(syntax::read(&format!("]d2{data}")).unwrap(), syntax::Scan::Gs1(elements));
    }

    #[test]
    fn a_label_has_both_symbols_the_text_and_the_link() {
        let label = draw(&lot(), "https://id.gs1.org").unwrap();
        assert!(label.gs1);
        assert_eq!(label.human, "(01)09506000134352(11)261102(17)261231(10)AB-12");
        assert!(label.gs1_128.starts_with("<svg") && label.gs1_128.contains("(10)AB-12</text>"));
        assert!(label.datamatrix.unwrap().contains("<path fill=\"#000\" d=\"M"));
        assert_eq!(label.digital_link.unwrap(), "https://id.gs1.org/01/09506000134352/10/AB-12?11=261102&17=261231");
        let plain = draw(&LabelLot { gtin: None, ..lot() }, "").unwrap();
        assert!(!plain.gs1 && plain.datamatrix.is_none());
        let bad = draw(&LabelLot { gtin: Some("09506000134353".into()), ..lot() }, "").unwrap_err();
        assert!(bad.contains("check digit"), "{bad}");
    }
}
