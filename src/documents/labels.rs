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
    /// What the date means: (17) use by or (15) best before.
    pub date_kind: crate::domain::vocab::DateKind,
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
        e.push(Element { ai: lot.date_kind.ai().into(), value: d.format("%y%m%d").to_string() });
    }
    e.push(Element { ai: "10".into(), value: lot.lot.clone() });
    Some(e)
}

/// The label stocks lotline lays out for. Logistic stocks (4×6 in, A6, and sheets of A6-sized
/// labels) carry GS1-128 symbols as GS1's symbol specification table for logistic labels asks;
/// small item stocks carry the DataMatrix (and the QR code where it fits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stock {
    In4x6,
    A6,
    In4x2,
    In2x1,
    SheetA4,
    SheetLetter,
}

impl Stock {
    pub const ALL: [Stock; 6] =
        [Stock::In4x6, Stock::A6, Stock::In4x2, Stock::In2x1, Stock::SheetA4, Stock::SheetLetter];

    pub fn parse(text: &str) -> Option<Stock> {
        Stock::ALL.into_iter().find(|s| s.key() == text.trim())
    }

    pub fn key(self) -> &'static str {
        match self {
            Stock::In4x6 => "4x6",
            Stock::A6 => "a6",
            Stock::In4x2 => "4x2",
            Stock::In2x1 => "2x1",
            Stock::SheetA4 => "a4",
            Stock::SheetLetter => "letter",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Stock::In4x6 => "4 × 6 in (thermal)",
            Stock::A6 => "A6 (thermal)",
            Stock::In4x2 => "4 × 2 in (thermal)",
            Stock::In2x1 => "2 × 1 in (thermal)",
            Stock::SheetA4 => "A4 sheet, 2 labels",
            Stock::SheetLetter => "Letter sheet, 2 labels",
        }
    }

    /// One label, width × height in mm.
    pub fn label_mm(self) -> (f64, f64) {
        match self {
            Stock::In4x6 => (101.6, 152.4),
            Stock::A6 => (105.0, 148.0),
            Stock::In4x2 => (101.6, 50.8),
            Stock::In2x1 => (50.8, 25.4),
            Stock::SheetA4 => (105.0, 148.5),
            Stock::SheetLetter => (107.95, 139.7),
        }
    }

    /// The page the printer takes, width × height in mm (a sheet holds two labels side by side
    /// in landscape).
    pub fn page_mm(self) -> (f64, f64) {
        match self {
            Stock::SheetA4 => (297.0, 210.0),
            Stock::SheetLetter => (279.4, 215.9),
            other => other.label_mm(),
        }
    }

    /// Whether GS1's logistic-label rules apply (X-dimension 0.495–0.940 mm, bars at least
    /// 31.75 mm high, a symbol at most 165 mm wide with its quiet zones).
    pub fn logistic(self) -> bool {
        !matches!(self, Stock::In4x2 | Stock::In2x1)
    }
}

/// GS1's symbol specification for GS1-128 on logistic labels.
pub const X_MIN_MM: f64 = 0.495;
pub const X_MAX_MM: f64 = 0.940;
pub const BAR_HEIGHT_MIN_MM: f64 = 31.75;
pub const SYMBOL_MAX_MM: f64 = 165.0;
/// Quiet zone each side of a GS1-128, in modules.
const QUIET_MODULES: usize = 10;
/// What a label keeps clear at each side beyond the quiet zones (thermal printers print to the edge), mm.
const MARGIN_MM: f64 = 1.0;

/// A GS1-128 symbol as printed: its elements, its module count and size at the printer's dots.
#[derive(Debug, Clone)]
pub struct Symbol {
    pub human: String,
    pub svg: String,
    /// Modules with both quiet zones.
    pub modules: usize,
    pub dots_per_module: u32,
    pub x_mm: f64,
    pub width_mm: f64,
    pub bar_height_mm: f64,
}

/// A drawn label's parts.
#[derive(Debug, Clone)]
pub struct Label {
    /// `(01)…(11)…(17)…(10)…`, or the bare lot code when the material has no GTIN.
    pub human: String,
    pub gs1: bool,
    /// The GS1-128 symbols, one or more (a long element string is split, as GS1 logistic labels
    /// do); none on small item stocks.
    pub symbols: Vec<Symbol>,
    pub datamatrix: Option<String>,
    /// The Digital Link as a QR code, for phones.
    pub qr: Option<String>,
    pub digital_link: Option<String>,
    /// What the layout had to leave out, and where that data is instead.
    pub notes: Vec<String>,
}

/// The smallest whole number of printer dots per module that GS1 allows, and the X-dimension
/// it gives: 4 dots (0.5005 mm) at 203 dpi, 6 dots (0.508 mm) at 300 dpi.
pub fn module_dots(dpi: u32) -> Result<(u32, f64), String> {
    let mm = |n: u32| f64::from(n) * 25.4 / f64::from(dpi);
    (1..=64)
        .find(|n| mm(*n) >= X_MIN_MM && mm(*n) <= X_MAX_MM)
        .map(|n| (n, mm(n)))
        .ok_or_else(|| format!("At {dpi} dpi no whole number of dots gives a module of 0.495–0.940 mm."))
}

/// Lays the elements out in GS1-128 symbols that fit the stock at `dpi`: fixed-length data first,
/// as many elements per symbol as fit (at most 165 mm with quiet zones, and within the label).
/// An element no symbol of the stock can hold is left to the DataMatrix, and said in the notes.
fn gs1_128_symbols(
    elements: &[Element],
    stock: Stock,
    dpi: u32,
    notes: &mut Vec<String>,
) -> Result<Vec<Symbol>, String> {
    let (dots, x_mm) = module_dots(dpi)?;
    let usable = stock.label_mm().0 - 2.0 * MARGIN_MM;
    let limit = usable.min(SYMBOL_MAX_MM);
    let width = |els: &[Element]| -> Result<usize, String> {
        let data = syntax::barcode_data(els);
        let code = barcoders::sym::code128::Code128::new(code128_plan(&data, true))
            .map_err(|e| format!("Code 128 cannot encode this: {e}"))?;
        Ok(code.encode().len() + 2 * QUIET_MODULES)
    };
    let mut ordered: Vec<Element> = elements.to_vec();
    ordered.sort_by_key(|e| !syntax::spec(&e.ai).is_some_and(|s| s.fixed));
    let mut groups: Vec<Vec<Element>> = Vec::new();
    for e in ordered {
        if let Some(last) = groups.last_mut() {
            let mut trial = last.clone();
            trial.push(e.clone());
            if width(&trial)? as f64 * x_mm <= limit {
                *last = trial;
                continue;
            }
        }
        if width(std::slice::from_ref(&e))? as f64 * x_mm > limit {
            notes.push(format!(
                "({}) is too long for a GS1-128 on a {} label at GS1's smallest module: the DataMatrix carries it.",
                e.ai,
                stock.title()
            ));
            continue;
        }
        groups.push(vec![e]);
    }
    let bar_height_mm = BAR_HEIGHT_MIN_MM;
    groups
        .iter()
        .map(|g| {
            let data = syntax::barcode_data(g);
            let human = syntax::human(g);
            let code = barcoders::sym::code128::Code128::new(code128_plan(&data, true))
                .map_err(|e| format!("Code 128 cannot encode this: {e}"))?;
            let bars = code.encode();
            let modules = bars.len() + 2 * QUIET_MODULES;
            Ok(Symbol {
                svg: code128_svg_mm(&bars, &human, x_mm, bar_height_mm),
                human,
                modules,
                dots_per_module: dots,
                x_mm,
                width_mm: modules as f64 * x_mm,
                bar_height_mm,
            })
        })
        .collect()
}

/// Draws the label for `stock` at the printer's `dpi`, or says why the lot's data cannot be a
/// GS1 label there.
pub fn draw(lot: &LabelLot, link_host: &str, stock: Stock, dpi: u32) -> Result<Label, String> {
    match elements(lot) {
        Some(elements) => {
            syntax::validate(&elements)?;
            let data = syntax::barcode_data(&elements);
            let mut notes = Vec::new();
            let symbols =
                if stock.logistic() { gs1_128_symbols(&elements, stock, dpi, &mut notes)? } else { Vec::new() };
            let matrix = datamatrix::DataMatrix::encode_gs1(data.as_bytes(), datamatrix::SymbolList::default())
                .map_err(|e| format!("The DataMatrix cannot hold this data: {e:?}"))?;
            let digital_link = digital_link(&elements, link_host);
            let qr = (stock != Stock::In2x1).then(|| qr_svg(&digital_link)).transpose()?;
            Ok(Label {
                human: syntax::human(&elements),
                gs1: true,
                symbols,
                datamatrix: Some(matrix_svg(&matrix.bitmap())),
                qr,
                digital_link: Some(digital_link),
                notes,
            })
        }
        None => {
            // No GTIN: a plain Code 128 of the lot code, for our own scanners only.
            let code = barcoders::sym::code128::Code128::new(code128_plan(&lot.lot, false))
                .map_err(|e| format!("Code 128 cannot encode this: {e}"))?;
            let bars = code.encode();
            let (dots, x_mm) = module_dots(dpi)?;
            let height = if stock.logistic() { BAR_HEIGHT_MIN_MM } else { 12.0 };
            let modules = bars.len() + 2 * QUIET_MODULES;
            let symbol = Symbol {
                svg: code128_svg_mm(&bars, &lot.lot, x_mm, height),
                human: lot.lot.clone(),
                modules,
                dots_per_module: dots,
                x_mm,
                width_mm: modules as f64 * x_mm,
                bar_height_mm: height,
            };
            Ok(Label {
                human: lot.lot.clone(),
                gs1: false,
                symbols: vec![symbol],
                datamatrix: None,
                qr: None,
                digital_link: None,
                notes: Vec::new(),
            })
        }
    }
}

/// The SSCC pallet label's symbol: (00) and the SSCC in a GS1-128 at GS1's logistic-label size,
/// on a logistic stock only.
pub fn draw_sscc(sscc: &str, stock: Stock, dpi: u32) -> Result<Label, String> {
    if !stock.logistic() {
        return Err(format!("A pallet label needs a logistic stock (4 × 6 in, A6 or a sheet), not {}.", stock.title()));
    }
    let elements = vec![Element { ai: "00".into(), value: sscc.to_string() }];
    syntax::validate(&elements)?;
    let mut notes = Vec::new();
    let symbols = gs1_128_symbols(&elements, stock, dpi, &mut notes)?;
    Ok(Label {
        human: syntax::human(&elements),
        gs1: true,
        symbols,
        datamatrix: None,
        qr: None,
        digital_link: None,
        notes,
    })
}

/// What a ZPL label shows besides its symbols.
pub struct ZplText<'a> {
    pub title: &'a str,
    pub facts: &'a str,
    pub quarantine: bool,
}

/// The label as ZPL for Zebra-class thermal printers at `dpi`: the page of the stock, the title
/// and facts, QUARANTINE when it applies, each GS1-128 (mode D: the printer writes FNC1 from the
/// AIs in parentheses) with its module in whole dots and its bar height, the DataMatrix and the
/// QR code, `copies` of it.
pub fn zpl(label: &Label, text: &ZplText<'_>, stock: Stock, dpi: u32, copies: usize) -> String {
    let dots = |mm: f64| (mm * f64::from(dpi) / 25.4).round() as i64;
    let (w, h) = stock.label_mm();
    let margin = dots(MARGIN_MM + 1.0);
    let mut out = format!("^XA^CI28^PW{}^LL{}^LH0,0\n", dots(w), dots(h));
    let mut y = margin;
    let field = |s: &str| {
        // ^FH lets ^FD hold any character: `^`, `~` and `\` go as hex.
        let escaped: String = s
            .chars()
            .map(|c| match c {
                '^' | '~' | '\\' => format!("\\{:02X}", c as u32),
                c => c.to_string(),
            })
            .collect();
        format!("^FH\\^FD{escaped}^FS")
    };
    let _ = writeln!(out, "^FO{margin},{y}^A0N,{0},{0}{1}", dots(5.0), field(text.title));
    y += dots(7.0);
    if text.quarantine {
        let _ = writeln!(out, "^FO{margin},{y}^GB{},{},4^FS", dots(w) - 2 * margin, dots(8.0));
        let _ =
            writeln!(out, "^FO{},{}^A0N,{2},{2}{3}", margin + dots(2.0), y + dots(1.5), dots(5.0), field("QUARANTINE"));
        y += dots(10.0);
    }
    let _ = writeln!(out, "^FO{margin},{y}^A0N,{0},{0}{1}", dots(3.5), field(text.facts));
    y += dots(6.0);
    for s in &label.symbols {
        let bar = dots(s.bar_height_mm);
        let _ = writeln!(out, "^FO{margin},{y}^BY{},3,{bar}^BCN,{bar},N,N,N,D{}", s.dots_per_module, field(&s.human));
        y += bar + dots(1.0);
        let _ = writeln!(out, "^FO{margin},{y}^A0N,{0},{0}{1}", dots(3.0), field(&s.human));
        y += dots(5.0);
    }
    if label.datamatrix.is_some() && label.gs1 {
        let data = label_data(label);
        // FNC1 first and as the separator: `_1` with `_` as the escape character.
        let encoded = format!("_1{}", data.replace(GS, "_1"));
        let _ = writeln!(out, "^FO{margin},{y}^BXN,{},200,,,,_^FD{encoded}^FS", dots(0.5).max(2));
    }
    if let Some(link) = &label.digital_link
        && label.qr.is_some()
    {
        let _ = writeln!(out, "^FO{},{y}^BQN,2,{}^FDQA,{link}^FS", dots(w) / 2, (dots(0.5)).max(2));
    }
    let _ = writeln!(out, "^PQ{copies}^XZ");
    out
}

/// The element string a label's DataMatrix carries (GS between fields), from its text line.
fn label_data(label: &Label) -> String {
    match syntax::read(&label.human) {
        Ok(syntax::Scan::Gs1(elements)) => syntax::barcode_data(&elements),
        _ => label.human.clone(),
    }
}

/// The QR code of a Digital Link as SVG (4-module quiet zone), sized for a phone at arm's length.
fn qr_svg(link: &str) -> Result<String, String> {
    let qr = qrcodegen::QrCode::encode_text(link, qrcodegen::QrCodeEcc::Medium)
        .map_err(|_| "The Digital Link is too long for a QR code.".to_string())?;
    let (size, quiet) = (qr.size(), 4);
    let total = size + 2 * quiet;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="barcode qr" viewBox="0 0 {total} {total}" width="22mm" height="22mm" role="img" aria-label="QR code: {}" shape-rendering="crispEdges"><rect width="{total}" height="{total}" fill="#fff"/><path fill="#000" d=""##,
        escape(link)
    );
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                let _ = write!(svg, "M{},{}h1v1h-1z", x + quiet, y + quiet);
            }
        }
    }
    svg.push_str(r##""/></svg>"##);
    Ok(svg)
}

/// The QR code's modules, for tests that read it back.
pub fn qr_modules(link: &str) -> Option<Vec<Vec<bool>>> {
    let qr = qrcodegen::QrCode::encode_text(link, qrcodegen::QrCodeEcc::Medium).ok()?;
    Some((0..qr.size()).map(|y| (0..qr.size()).map(|x| qr.get_module(x, y)).collect()).collect())
}

/// The Digital Link: GTIN and lot in the path, dates in the query.
pub fn digital_link(elements: &[Element], host: &str) -> String {
    let get = |ai: &str| elements.iter().find(|e| e.ai == ai).map(|e| e.value.as_str());
    let mut uri = format!("{}/01/{}", host.trim_end_matches('/'), get("01").unwrap_or_default());
    if let Some(lot) = get("10") {
        uri.push_str("/10/");
        uri.push_str(&crate::domain::text::percent_encode(lot));
    }
    let query: Vec<String> = ["11", "15", "17"].iter().filter_map(|ai| get(ai).map(|v| format!("{ai}={v}"))).collect();
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

/// A Code 128 symbol as SVG in millimetres: each module exactly `x_mm` wide (a whole number of
/// printer dots), bars `height_mm` high, quiet zones both sides, the text under the bars.
fn code128_svg_mm(bars: &[u8], text: &str, x_mm: f64, height_mm: f64) -> String {
    let modules = bars.len() + 2 * QUIET_MODULES;
    // The view box counts modules across and tenths of a module down.
    let (w_mm, text_mm) = (modules as f64 * x_mm, 4.0);
    let h_mm = height_mm + text_mm;
    let h_units = h_mm / x_mm;
    let bar_units = height_mm / x_mm;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="barcode gs1-128" viewBox="0 0 {modules} {h_units:.3}" width="{w_mm:.3}mm" height="{h_mm:.3}mm" preserveAspectRatio="none" shape-rendering="crispEdges" role="img" aria-label="GS1-128 {}" data-x-mm="{x_mm:.4}" data-bar-mm="{height_mm:.2}"><rect width="{modules}" height="{h_units:.3}" fill="#fff"/>"##,
        escape(text),
    );
    let mut x = 0;
    while x < bars.len() {
        if bars[x] == 1 {
            let run = bars[x..].iter().take_while(|m| **m == 1).count();
            let _ = write!(
                svg,
                r##"<rect x="{}" y="0" width="{run}" height="{bar_units:.3}" fill="#000"/>"##,
                QUIET_MODULES + x
            );
            x += run;
        } else {
            x += 1;
        }
    }
    let _ = write!(
        svg,
        r##"<text x="{}" y="{:.3}" font-family="monospace" font-size="{:.3}" text-anchor="middle">{}</text></svg>"##,
        modules / 2,
        h_units - 0.8 / x_mm,
        3.0 / x_mm,
        escape(text)
    );
    svg
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
            date_kind: crate::domain::vocab::DateKind::UseBy,
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
    fn a_label_has_its_symbols_the_text_and_the_link() {
        let label = draw(&lot(), "https://id.gs1.org", Stock::In4x6, 203).unwrap();
        assert!(label.gs1);
        assert_eq!(label.human, "(01)09506000134352(11)261102(17)261231(10)AB-12");
        assert!(label.symbols.iter().all(|s| s.svg.starts_with("<svg")));
        let hri: Vec<&str> = label.symbols.iter().map(|s| s.human.as_str()).collect();
        assert!(hri.last().unwrap().ends_with("(10)AB-12"), "{hri:?}");
        assert!(label.datamatrix.unwrap().contains("<path fill=\"#000\" d=\"M"));
        assert_eq!(label.digital_link.unwrap(), "https://id.gs1.org/01/09506000134352/10/AB-12?11=261102&17=261231");
        let plain = draw(&LabelLot { gtin: None, ..lot() }, "", Stock::In4x6, 203).unwrap();
        assert!(!plain.gs1 && plain.datamatrix.is_none());
        let bad = draw(&LabelLot { gtin: Some("09506000134353".into()), ..lot() }, "", Stock::In4x6, 203).unwrap_err();
        assert!(bad.contains("check digit"), "{bad}");
    }

    #[test]
    fn modules_are_whole_printer_dots_within_gs1s_logistic_range() {
        assert_eq!(module_dots(203).unwrap().0, 4);
        assert!((module_dots(203).unwrap().1 - 0.5005).abs() < 1e-4);
        assert_eq!(module_dots(300).unwrap().0, 6);
        assert!((module_dots(300).unwrap().1 - 0.508).abs() < 1e-3);
    }

    #[test]
    fn a_4x6_label_meets_gs1s_symbol_rules_at_203_and_300_dpi_splitting_what_one_symbol_cannot_hold() {
        let long = LabelLot { lot: "LOT-ABCD".into(), ..lot() };
        for dpi in [203, 300] {
            let label = draw(&long, "https://id.gs1.org", Stock::In4x6, dpi).unwrap();
            assert!(label.symbols.len() >= 2, "at {dpi} dpi one 4-inch symbol cannot hold it all");
            let usable = Stock::In4x6.label_mm().0 - 2.0 * MARGIN_MM;
            for s in &label.symbols {
                assert!((X_MIN_MM..=X_MAX_MM).contains(&s.x_mm), "X {} mm", s.x_mm);
                assert!(s.width_mm <= SYMBOL_MAX_MM && s.width_mm <= usable, "{} mm wide", s.width_mm);
                assert!(s.bar_height_mm >= BAR_HEIGHT_MIN_MM);
                // Every module is a whole number of dots.
                let dots = s.x_mm * f64::from(dpi) / 25.4;
                assert!((dots - dots.round()).abs() < 1e-9, "{dots} dots");
            }
            // Together the symbols carry every element, each once.
            let mut carried: Vec<String> = label
                .symbols
                .iter()
                .flat_map(|s| s.human.split('(').filter(|p| !p.is_empty()).map(|p| format!("({p}")))
                .collect();
            carried.sort();
            let mut want: Vec<String> =
                elements(&long).unwrap().iter().map(|e| format!("({}){}", e.ai, e.value)).collect();
            want.sort();
            assert_eq!(carried, want);
        }
        // A lot too long for any 4-inch symbol is left to the DataMatrix, and the label says so.
        let longest = draw(&LabelLot { lot: "LOT-2026-ABCDEFGHIJK".into(), ..lot() }, "", Stock::In4x6, 203).unwrap();
        assert!(longest.symbols.iter().all(|s| !s.human.contains("(10)")));
        assert!(longest.notes[0].starts_with("(10) is too long"), "{:?}", longest.notes);
        // An item stock carries the DataMatrix, no GS1-128.
        let small = draw(&lot(), "https://id.gs1.org", Stock::In2x1, 203).unwrap();
        assert!(small.symbols.is_empty() && small.datamatrix.is_some() && small.qr.is_none());
    }

    #[test]
    fn a_pallet_label_carries_the_sscc_in_one_logistic_gs1_128() {
        let sscc = crate::domain::gs1::sscc("0614141", 42).unwrap();
        for dpi in [203, 300] {
            let label = draw_sscc(&sscc, Stock::In4x6, dpi).unwrap();
            assert_eq!(label.symbols.len(), 1);
            let s = &label.symbols[0];
            assert_eq!(s.human, format!("(00){sscc}"));
            assert!((X_MIN_MM..=X_MAX_MM).contains(&s.x_mm) && s.width_mm <= SYMBOL_MAX_MM);
            assert!(s.bar_height_mm >= BAR_HEIGHT_MIN_MM);
        }
        assert!(draw_sscc(&sscc, Stock::In2x1, 203).unwrap_err().contains("logistic stock"));
        assert!(draw_sscc("006141410000000420", Stock::In4x6, 203).is_err(), "a wrong check digit");
    }

    #[test]
    fn zpl_text_cannot_break_out_of_its_field() {
        let label = draw(&lot(), "https://id.gs1.org", Stock::In4x6, 300).unwrap();
        let text = ZplText { title: "Flour ^XZ~JA\\", facts: "Lot AB-12", quarantine: true };
        let zpl = zpl(&label, &text, Stock::In4x6, 300, 3);
        assert!(zpl.contains("^FH\\^FDFlour \\5EXZ\\7EJA\\5C^FS"), "{zpl}");
        assert_eq!(zpl.matches("^XA").count(), 1);
        assert_eq!(zpl.matches("^XZ").count(), 1, "only the label's own end");
        assert!(zpl.contains("^PW1200^LL1800"), "4 x 6 in at 300 dpi");
        assert!(zpl.contains("^BY6,3,"), "6-dot modules at 300 dpi");
        assert!(zpl.contains("QUARANTINE") && zpl.contains("^PQ3^XZ"));
    }

    #[test]
    fn the_qr_code_reads_back_as_the_digital_link() {
        let link = "https://plant.example/01/09506000134352/10/AB-12?17=261231";
        let modules = qr_modules(link).unwrap();
        let (n, quiet, scale) = (modules.len(), 4, 4);
        let side = (n + 2 * quiet) * scale;
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
            let (mx, my) = (x / scale, y / scale);
            let dark =
                (quiet..quiet + n).contains(&mx) && (quiet..quiet + n).contains(&my) && modules[my - quiet][mx - quiet];
            if dark { 0 } else { 255 }
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].decode().unwrap().1, link);
    }
}
