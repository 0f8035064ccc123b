//! Trace pages and the trace API: the summary first, then the genealogy picture, the lots, their
//! stock, the shipments and customers; CSV export and a print view. One query layer (`trace`).

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use uuid::Uuid;

use super::{Layout, render};
use crate::auth::Permission;
use crate::error::{Error, Result};
use crate::trace::{self, Direction, Mode, Trace};
use crate::web::AppState;

pub fn router() -> Router<AppState> {
    let routes = Router::new().route("/trace", get(page));
    super::guarded(routes, Permission::LotsRead)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TraceQuery {
    lot: String,
    lot_id: String,
    material: String,
    direction: String,
    mode: String,
    format: String,
}

/// The lot a request names (by id, or by material and lot code), and the trace parameters.
async fn resolve(state: &AppState, q: &TraceQuery) -> Result<(Uuid, Direction, Mode)> {
    let direction = Direction::parse(q.direction.trim())
        .ok_or_else(|| Error::BadRequest("direction is forward or backward.".into()))?;
    let mode = Mode::parse(q.mode.trim()).ok_or_else(|| Error::BadRequest("mode is precise or lot-level.".into()))?;
    let by_id = if q.lot_id.trim().is_empty() { q.lot.trim() } else { q.lot_id.trim() };
    let lot = match Uuid::parse_str(by_id) {
        Ok(id) => id,
        Err(_) if !q.material.trim().is_empty() && !q.lot.trim().is_empty() => {
            trace::find_lot(state.reports(), &q.material, &q.lot).await?
        }
        Err(_) => return Err(Error::BadRequest("Name the lot: lot_id, or material and lot (codes).".into())),
    };
    Ok((lot, direction, mode))
}

pub struct Node {
    pub x: usize,
    pub y: usize,
    pub label: String,
    pub sub: String,
    pub href: Option<String>,
    pub status: String,
}

pub struct Edge {
    pub x1: usize,
    pub y1: usize,
    pub x2: usize,
    pub y2: usize,
}

/// The genealogy picture: lots in columns by depth, each linked from the lot it was reached
/// from. Beyond 100 lots, one box per material and level, with its count.
pub struct Graph {
    pub width: usize,
    pub height: usize,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub grouped: bool,
}

/// A lot as the picture needs it: traces and recall scopes both draw through this.
pub struct GraphLot<'a> {
    pub id: Uuid,
    pub depth: u32,
    pub material: &'a str,
    pub code: &'a str,
    pub status: &'a str,
    pub parent: Option<Uuid>,
}

const COL: usize = 210;
const ROW: usize = 46;

fn graph(t: &Trace) -> Graph {
    draw(
        &t.lots
            .iter()
            .map(|l| GraphLot {
                id: l.id,
                depth: l.depth,
                material: &l.material,
                code: &l.code,
                status: &l.status,
                parent: l.parent,
            })
            .collect::<Vec<_>>(),
    )
}

pub fn draw(lots: &[GraphLot]) -> Graph {
    let grouped = lots.len() > 100;
    // Each lot's box: its own, or beyond 100 lots the box of its level and material (keys that
    // borrow, so a tank's 100,000 lots cost no allocation each).
    let mut boxes: HashMap<(u32, &str), usize> = HashMap::new();
    let mut node_of: Vec<usize> = Vec::with_capacity(lots.len());
    let mut counts: Vec<usize> = Vec::new();
    let mut rows_per_depth: HashMap<u32, usize> = HashMap::new();
    let mut nodes = Vec::new();
    for l in lots {
        let existing = if grouped { boxes.get(&(l.depth, l.material)).copied() } else { None };
        let n = match existing {
            Some(n) => n,
            None => {
                let row = rows_per_depth.entry(l.depth).or_default();
                let (x, y) = (10 + l.depth as usize * COL, 10 + *row * ROW);
                *row += 1;
                nodes.push(if grouped {
                    Node { x, y, label: l.material.to_string(), sub: String::new(), href: None, status: String::new() }
                } else {
                    Node {
                        x,
                        y,
                        label: l.code.to_string(),
                        sub: l.material.to_string(),
                        href: Some(format!("/lots/{}", l.id)),
                        status: l.status.replace(' ', "-"),
                    }
                });
                counts.push(0);
                if grouped {
                    boxes.insert((l.depth, l.material), nodes.len() - 1);
                }
                nodes.len() - 1
            }
        };
        counts[n] += 1;
        node_of.push(n);
    }
    if grouped {
        for (node, count) in nodes.iter_mut().zip(&counts) {
            node.sub = format!("{count} lots");
        }
    }
    let index: crate::trace::IdMap<usize> = lots.iter().enumerate().map(|(i, l)| (l.id, i)).collect();
    let mut edges = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, l) in lots.iter().enumerate() {
        let Some(&p) = l.parent.and_then(|p| index.get(&p)) else { continue };
        let (a, b) = (node_of[p], node_of[i]);
        if !seen.insert((a, b)) {
            continue;
        }
        let ((x1, y1), (x2, y2)) = ((nodes[a].x, nodes[a].y), (nodes[b].x, nodes[b].y));
        edges.push(Edge { x1: x1 + 170, y1: y1 + 18, x2, y2: y2 + 18 });
    }
    let width = 20 + (lots.iter().map(|l| l.depth).max().unwrap_or(0) as usize + 1) * COL;
    let height = 20 + rows_per_depth.values().copied().max().unwrap_or(1) * ROW;
    Graph { width, height, nodes, edges, grouped }
}

/// One line of the expandable tree, in depth-first order, with how many levels close after it.
struct TreeItem {
    id: Uuid,
    code: String,
    material: String,
    status: String,
    children: usize,
    closes: usize,
}

/// The tree of the trace (each lot under the lot it was first reached from), depth first.
fn tree(t: &Trace, limit: usize) -> (Vec<TreeItem>, usize) {
    let mut children: crate::trace::IdMap<Vec<&trace::TracedLot>> = Default::default();
    for l in &t.lots {
        if let Some(p) = l.parent {
            children.entry(p).or_default().push(l);
        }
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| (&a.material, &a.code).cmp(&(&b.material, &b.code)));
    }
    let mut order: Vec<(&trace::TracedLot, usize)> = Vec::new();
    let mut stack = vec![(&t.start, 0usize)];
    while let Some((lot, depth)) = stack.pop() {
        if order.len() >= limit {
            break;
        }
        order.push((lot, depth));
        if let Some(kids) = children.get(&lot.id) {
            for k in kids.iter().rev() {
                stack.push((k, depth + 1));
            }
        }
    }
    let shown = order.len();
    let items = order
        .iter()
        .enumerate()
        .map(|(i, (lot, depth))| {
            let kids = if i + 1 < shown && order[i + 1].1 > *depth {
                children.get(&lot.id).map(Vec::len).unwrap_or(0)
            } else {
                0
            };
            let next = order.get(i + 1).map(|(_, d)| *d).unwrap_or(0);
            let closes = if kids > 0 { 0 } else { depth.saturating_sub(next) };
            TreeItem {
                id: lot.id,
                code: lot.code.clone(),
                material: lot.material.clone(),
                status: lot.status.replace(' ', "-"),
                children: kids,
                closes,
            }
        })
        .collect();
    (items, t.lots.len().saturating_sub(shown))
}

#[derive(Template)]
#[template(path = "trace/show.html")]
struct TracePage {
    layout: Layout,
    t: Trace,
    graph: Graph,
    tree: Vec<TreeItem>,
    tree_hidden: usize,
    csv_link: String,
    other_mode_link: String,
    other_direction_link: String,
    /// Rows shown per table: a trace of a tank reaching 100,000 lots would otherwise be a 60 MB
    /// page; the summary counts everything and the CSV holds every row.
    page_rows: usize,
}

impl std::borrow::Borrow<trace::Trace> for TracePage {
    fn borrow(&self) -> &trace::Trace {
        &self.t
    }
}

/// Rows of each table the trace page shows.
pub const PAGE_ROWS: usize = 1_000;

async fn page(State(state): State<AppState>, layout: Layout, Query(q): Query<TraceQuery>) -> Result<Response> {
    let (lot, direction, mode) = resolve(&state, &q).await?;
    let t = state.trace(lot, direction, mode).await?;
    if q.format == "epcis" {
        let ids: Vec<Uuid> = t.lots.iter().map(|l| l.id).collect();
        let doc = crate::documents::epcis::document(
            &state.pool,
            crate::documents::epcis::Selection::Lots(&ids),
            &state.public_url,
        )
        .await?;
        let name = format!("epcis-{}-{}-{}.jsonld", t.start.material, t.start.code, direction.key());
        return Ok(epcis_response(&doc, &name));
    }
    if q.format == "csv" {
        let mut response = (StatusCode::OK, trace::to_csv(&t)).into_response();
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        let name =
            format!("attachment; filename=\"trace-{}-{}-{}.csv\"", t.start.material, t.start.code, direction.key());
        if let Ok(v) = HeaderValue::from_str(&name) {
            response.headers_mut().insert(CONTENT_DISPOSITION, v);
        }
        return Ok(response);
    }
    let link = |d: Direction, m: Mode, csv: bool| {
        format!("/trace?lot={lot}&direction={}&mode={}{}", d.key(), m.key(), if csv { "&format=csv" } else { "" })
    };
    let other = if mode == Mode::Precise { Mode::LotLevel } else { Mode::Precise };
    let flip = if direction == Direction::Forward { Direction::Backward } else { Direction::Forward };
    let clock = std::time::Instant::now();
    let graph = graph(&t);
    tracing::debug!(trace.ms = clock.elapsed().as_secs_f64() * 1000.0, "trace page: picture drawn");
    let (tree, tree_hidden) = tree(&t, 500);
    tracing::debug!(trace.ms = clock.elapsed().as_secs_f64() * 1000.0, "trace page: tree built");
    let page = TracePage {
        layout,
        tree,
        tree_hidden,
        csv_link: link(direction, mode, true),
        other_mode_link: link(direction, other, false),
        other_direction_link: link(flip, mode, false),
        page_rows: PAGE_ROWS,
        t,
        graph,
    };
    let out = render(&page);
    tracing::debug!(trace.ms = clock.elapsed().as_secs_f64() * 1000.0, "trace page: rendered");
    trace::drop_later(page);
    out
}

fn epcis_response(doc: &serde_json::Value, name: &str) -> Response {
    let mut response = (StatusCode::OK, doc.to_string()).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/ld+json"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response.headers_mut().insert(CONTENT_DISPOSITION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_a_hundred_lots_the_picture_has_one_box_per_level_and_material() {
        let ids: Vec<Uuid> = (0..150u128).map(Uuid::from_u128).collect();
        let lots: Vec<GraphLot> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let (depth, material, parent) = match i {
                    0 => (0, "SUGAR", None),
                    1..=100 => (1, "DOUGH", Some(ids[0])),
                    _ => (2, "BREAD", Some(ids[1 + i % 100])),
                };
                GraphLot { id: *id, depth, material, code: "L", status: "released", parent }
            })
            .collect();
        let g = draw(&lots);
        assert!(g.grouped);
        let boxes: Vec<(usize, &str, &str)> = g.nodes.iter().map(|n| (n.x, n.label.as_str(), n.sub.as_str())).collect();
        assert_eq!(boxes, vec![(10, "SUGAR", "1 lots"), (220, "DOUGH", "100 lots"), (430, "BREAD", "49 lots")]);
        let edges: Vec<(usize, usize)> = g.edges.iter().map(|e| (e.x1, e.x2)).collect();
        assert_eq!(edges, vec![(180, 220), (390, 430)], "one line per pair of boxes");
        assert!(g.nodes.iter().all(|n| n.href.is_none()));
    }
}
