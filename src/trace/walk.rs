//! The walk over a trace's closure, in memory and without I/O: which lots are reached and when
//! (precise: earliest arrival forward, latest need backward; lot-level: all), how deep, by which
//! links, and the cycles met (a tank topped up from itself).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::Mode;
use super::closure::{Closure, Edge};

/// No lot: a depth or parent not set.
pub(crate) const NONE: u32 = u32::MAX;

/// What the walk found, per lot of the closure (indexed by its number; the start is 0).
pub(crate) struct Walk {
    /// None: not reached; Some(None): reached with no time (the start, or lot-level);
    /// Some(Some(t)): reached at `t`, microseconds since the Unix epoch.
    pub best: Vec<Option<Option<i64>>>,
    /// Fewest links from the start (`NONE` if not reached).
    pub depth: Vec<u32>,
    /// The lot it was first reached from, for the tree the page draws (`NONE` for the start).
    pub parent: Vec<u32>,
    /// (lot, how it was reached) for every usable link, sorted, each once: lot `i`'s are
    /// `vias[via_from[i]..via_from[i + 1]]`.
    pub vias: Vec<(u32, u32)>,
    pub via_from: Vec<u32>,
    /// (from, to) of each link back to the lot itself, the start or one of its ancestors.
    pub cycles: Vec<(u32, u32)>,
    /// How many links the walk used.
    pub used_links: usize,
}

/// Walks `graph` from lot 0 in `mode`, forward (where used) or backward (where from).
pub(crate) fn walk(graph: &Closure, forward: bool, mode: Mode) -> Walk {
    let n = graph.ids.len();

    // 1. When each lot is reached: forward the earliest arrival of the start lot's material,
    //    backward the latest time it could have fed the start lot (Dijkstra on time; a lot
    //    reached again at a better time is expanded again). Lot-level: every lot of the closure.
    //    None: not reached; Some(None): reached with no time (the start, or lot-level).
    let mut best: Vec<Option<Option<i64>>> = vec![None; n];
    best[0] = Some(None);
    if mode == Mode::LotLevel {
        best.fill(Some(None));
    } else {
        let key = |t: Option<i64>| -> i128 {
            match t {
                None => i128::MIN,
                Some(t) if forward => t as i128,
                Some(t) => -(t as i128),
            }
        };
        let mut heap: BinaryHeap<Reverse<(i128, u32)>> = BinaryHeap::new();
        heap.push(Reverse((key(None), 0)));
        while let Some(Reverse((k, lot))) = heap.pop() {
            let at = best[lot as usize].flatten();
            if k != key(at) {
                continue; // stale: reached at a better time since
            }
            for e in graph.edges_of(lot) {
                let usable = at.is_none_or(|a| if forward { e.at >= a } else { e.at <= a });
                if !usable || e.next == 0 {
                    continue;
                }
                let better = match best[e.next as usize] {
                    None => true,
                    Some(Some(old)) => {
                        if forward {
                            e.at < old
                        } else {
                            e.at > old
                        }
                    }
                    Some(None) => false,
                };
                if better {
                    best[e.next as usize] = Some(Some(e.at));
                    heap.push(Reverse((key(Some(e.at)), e.next)));
                }
            }
        }
    }
    let usable = |owner: u32, e: &Edge| match best[owner as usize] {
        None => false,
        Some(None) => true,
        Some(Some(a)) => mode == Mode::LotLevel || if forward { e.at >= a } else { e.at <= a },
    };

    // 2. Depth (fewest links), the tree the page draws, the runs that link each lot, and the
    //    cycles met: a breadth-first walk over the usable links.
    let mut depth: Vec<u32> = vec![NONE; n];
    depth[0] = 0;
    let mut parent: Vec<u32> = vec![NONE; n];
    // (lot, how it was reached) for every usable link.
    let mut vias: Vec<(u32, u32)> = Vec::new();
    let mut cycles: Vec<(u32, u32)> = Vec::new();
    let mut used_links = 0usize;
    let mut queue = std::collections::VecDeque::from([0u32]);
    while let Some(lot) = queue.pop_front() {
        let here = depth[lot as usize];
        for e in graph.edges_of(lot) {
            // Lot-level, every link of a reached lot counts.
            if mode == Mode::Precise && !usable(lot, e) {
                continue;
            }
            used_links += 1;
            let next = e.next;
            vias.push((next, e.via));
            let d = depth[next as usize];
            if d != NONE {
                // Back to the lot itself, the start, or (shallower) one of its ancestors.
                if next == lot || next == 0 || (d < here && is_ancestor(&parent, next, lot)) {
                    cycles.push((lot, next));
                }
                continue;
            }
            depth[next as usize] = here + 1;
            parent[next as usize] = lot;
            queue.push_back(next);
        }
    }
    // Each lot's ways in, once each, together.
    vias.sort_unstable();
    vias.dedup();
    let mut via_from: Vec<u32> = vec![0; n + 1];
    for (lot, _) in &vias {
        via_from[*lot as usize + 1] += 1;
    }
    for i in 0..n {
        via_from[i + 1] += via_from[i];
    }

    Walk { best, depth, parent, vias, via_from, cycles, used_links }
}

/// Whether `candidate` lies on the path from the start to `node` in the walk's tree.
fn is_ancestor(parent: &[u32], candidate: u32, node: u32) -> bool {
    let mut current = node;
    let mut steps = 0;
    while let Some(&p) = parent.get(current as usize) {
        if p == u32::MAX {
            break;
        }
        if p == candidate {
            return true;
        }
        current = p;
        steps += 1;
        if steps > 100_000 {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::trace::closure::ClosureBuilder;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// A raw lot S delivered into a tank T at time 10. T was drawn into A at 5 (before S came)
    /// and into B at 15, and topped up from itself at 20.
    fn tank() -> Closure {
        let (s, t, a, b) = (id(1), id(2), id(3), id(4));
        let mut g = ClosureBuilder::new(s);
        let (tn, _) = g.number(t);
        g.edge(tn, Some(id(100)), false, 10);
        g.close_lot();
        let (an, _) = g.number(a);
        g.edge(an, Some(id(101)), false, 5);
        let (bn, _) = g.number(b);
        g.edge(bn, Some(id(102)), false, 15);
        g.edge(tn, Some(id(103)), false, 20);
        g.close_lot();
        g.close_lot();
        g.close_lot();
        g.finish()
    }

    #[test]
    fn precise_forward_reaches_only_what_was_drawn_after_the_material_arrived() {
        let w = walk(&tank(), true, Mode::Precise);
        assert_eq!(w.best, vec![Some(None), Some(Some(10)), None, Some(Some(15))]);
        assert_eq!(w.depth, vec![0, 1, NONE, 2]);
        assert_eq!(w.parent[3], 1, "B was reached from the tank");
        assert_eq!(w.cycles, vec![(1, 1)], "the top-up is a cycle, and the walk ends");
        assert_eq!(w.used_links, 3);
    }

    #[test]
    fn lot_level_reaches_every_lot_of_the_closure() {
        let w = walk(&tank(), true, Mode::LotLevel);
        assert!(w.best.iter().all(Option::is_some));
        assert_eq!(w.depth, vec![0, 1, 2, 2]);
        assert_eq!(w.used_links, 4);
        // Each lot's ways in, once each.
        let into_b = &w.vias[w.via_from[3] as usize..w.via_from[4] as usize];
        assert_eq!(into_b.len(), 1);
    }

    #[test]
    fn precise_backward_keeps_only_inputs_linked_before_the_need() {
        // B, made at 15 from the tank, which S reached at 10 and an older lot O at 20 (after B).
        let (b, t, s, o) = (id(4), id(2), id(1), id(5));
        let mut g = ClosureBuilder::new(b);
        let (tn, _) = g.number(t);
        g.edge(tn, Some(id(102)), false, 15);
        g.close_lot();
        let (sn, _) = g.number(s);
        g.edge(sn, Some(id(100)), false, 10);
        let (on, _) = g.number(o);
        g.edge(on, Some(id(104)), false, 20);
        g.close_lot();
        g.close_lot();
        g.close_lot();
        let w = walk(&g.finish(), false, Mode::Precise);
        assert!(w.best[sn as usize].is_some(), "what entered the tank before B was drawn");
        assert!(w.best[on as usize].is_none(), "what entered after cannot be in B");
    }
}
