//! A trace's closure as the walk reads it: lots numbered from 0 (the start), each lot's links one
//! slice of an array of small edges; and the hasher for maps keyed by lot id.

use std::collections::HashMap;

use uuid::Uuid;

/// The closure as the walk reads it: its lots numbered from 0 (the start) in the order first
/// met, each lot's links (in their order) one slice of `edges`. The walk then fills arrays
/// indexed by that number instead of maps keyed by lot id: small edges and a few arrays instead
/// of a hash lookup per link, which is what a trace reaching half a plant spends its walk on.
pub(crate) struct Closure {
    pub(crate) ids: Vec<Uuid>,
    /// Lot `i`'s edges are `edges[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<u32>,
    edges: Vec<Edge>,
    /// The runs the edges name (`Edge::via` below `VIA_REPACK`).
    pub(crate) runs: Vec<Uuid>,
    /// The numbers of those runs that are known already (from the index: every one).
    pub(crate) run_numbers: IdMap<String>,
}

#[derive(Clone, Copy)]
pub(crate) struct Edge {
    /// The lot at the other end.
    pub(crate) next: u32,
    /// The run (its place in `Closure::runs`), or VIA_SPLIT / VIA_REPACK.
    pub(crate) via: u32,
    /// Microseconds since the Unix epoch.
    pub(crate) at: i64,
}

pub(crate) const VIA_SPLIT: u32 = u32::MAX;
pub(crate) const VIA_REPACK: u32 = u32::MAX - 1;

/// Builds a `Closure` lot by lot, in the order the lots are numbered (the start is 0): `number`
/// numbers each lot a link leads to, `edge` adds that link to the lot being built, `close_lot`
/// ends the lot; `built` < `lots` while numbered lots wait for their links.
pub(crate) struct ClosureBuilder {
    graph: Closure,
    /// Each lot's number.
    numbers: IdMap<u32>,
    runs: IdMap<u32>,
}

impl ClosureBuilder {
    pub(crate) fn new(start: Uuid) -> ClosureBuilder {
        ClosureBuilder {
            graph: Closure {
                ids: vec![start],
                offsets: vec![0],
                edges: Vec::new(),
                runs: Vec::new(),
                run_numbers: IdMap::default(),
            },
            numbers: IdMap::from_iter([(start, 0)]),
            runs: IdMap::default(),
        }
    }

    /// The number of lot `id`, and whether it is new (numbered now, its links to be built
    /// after those of the lots numbered before it).
    pub(crate) fn number(&mut self, id: Uuid) -> (u32, bool) {
        let next = self.graph.ids.len() as u32;
        let n = *self.numbers.entry(id).or_insert(next);
        if n == next {
            self.graph.ids.push(id);
        }
        (n, n == next)
    }

    /// A link of the lot being built to lot `next` (numbered), by `run` or a split/repack.
    pub(crate) fn edge(&mut self, next: u32, run: Option<Uuid>, repack: bool, at: i64) {
        let via = match run {
            Some(run) => *self.runs.entry(run).or_insert_with(|| {
                self.graph.runs.push(run);
                self.graph.runs.len() as u32 - 1
            }),
            None if repack => VIA_REPACK,
            None => VIA_SPLIT,
        };
        self.graph.edges.push(Edge { next, via, at });
    }

    pub(crate) fn close_lot(&mut self) {
        self.graph.offsets.push(self.graph.edges.len() as u32);
    }

    /// How many lots have their links in (the next to build is this one).
    pub(crate) fn built(&self) -> usize {
        self.graph.offsets.len() - 1
    }

    pub(crate) fn lots(&self) -> usize {
        self.graph.ids.len()
    }

    pub(crate) fn id(&self, lot: usize) -> Uuid {
        self.graph.ids[lot]
    }

    pub(crate) fn run_number(&mut self, run: Uuid, number: &str) {
        if !number.is_empty() && !self.graph.run_numbers.contains_key(&run) {
            self.graph.run_numbers.insert(run, number.to_string());
        }
    }

    pub(crate) fn finish(self) -> Closure {
        self.graph
    }
}

impl Closure {
    pub(crate) fn edges_of(&self, lot: u32) -> &[Edge] {
        &self.edges[self.offsets[lot as usize] as usize..self.offsets[lot as usize + 1] as usize]
    }
}

/// Hashes a lot id with two multiply-rotate rounds (one per half) and folds the high bits,
/// which the multiplications mix well, onto the low ones, which pick the bucket: the walk does
/// several map operations per link, and a keyed general-purpose hash is wasted on them. No byte
/// of an id may be taken as random: a version-7 id may carry a counter after its millisecond
/// (RFC 9562, method 1, as the bulk import's ids do), and ids of one batch then differ only there.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

pub(crate) type IdMap<V> = HashMap<Uuid, V, std::hash::BuildHasherDefault<IdHasher>>;
