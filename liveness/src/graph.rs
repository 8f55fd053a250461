//! The reachable graph, enumerated breadth-first, kept without its states.
//!
//! A state is known by its 64-bit fingerprint (the `search` crate's, so both engines see
//! the same collisions) and numbered in BFS order. Per state the graph keeps its BFS parent
//! (6 B: source and action index), the start of its out-edges (4 B), the fairness classes
//! enabled there (4 B per 32 classes), a truncated bit and one pending bit per predicate
//! (2 B: the graph does not depend on the predicates, so one enumeration serves up to
//! [`MAX_PREDICATES`] of them) and one slot of the fingerprint index (12 B per slot at a
//! load of 3/8 to 3/4: 16-32 B), 32-48 B in all; per non-stuttering transition 8 B (`dst`,
//! action index, class). States themselves are
//! held only while they wait in the BFS queue; a lasso's states are recomputed by replaying
//! its actions from the initial state (see `lasso::rebuild`).
//!
//! A successor is stepped in place ([`search::InPlace`]) and known by its fingerprint from
//! then on: a step is stuttering when the successor's fingerprint is its source's (one
//! comparison where a full state comparison cost more than the step itself; two distinct
//! states with one fingerprint are one state of this graph anyway).
//!
//! The numbering, the parents and the edge order are exactly those of the reference graph
//! (`reference::graph`), which is what makes the two searches report the same lasso.

use crate::fairness::{self, Classes, FairModel, NO_CLASS};
use std::collections::VecDeque;
use std::hash::Hash;
use std::mem::size_of;
use std::time::{Duration, Instant};

/// Marks an init state in [`Parent::src`].
pub(crate) const ROOT: u32 = u32::MAX;

/// A transition `src -> dst` with `dst != src` (self-loops are stuttering steps: they
/// neither witness a class nor enable it, so they are not stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Edge {
    pub dst: u32,
    /// Index of the action in `model.actions(src)`, ignored actions included.
    pub action_index: u16,
    /// Dense fairness class, or [`NO_CLASS`].
    pub class: u16,
}

/// How BFS first reached a state: from `src` by action `index`, or, if `src == ROOT`, as
/// `init_states()[index]`.
#[derive(Clone, Copy)]
pub(crate) struct Parent {
    pub src: u32,
    pub index: u32,
}

/// The bit of [`Graph::marks`] that marks a truncated state; the bits below it are the
/// predicates'.
const TRUNCATED: u16 = 1 << 15;

/// Predicates one enumeration evaluates (one bit each in [`Graph::marks`]).
pub(crate) const MAX_PREDICATES: usize = 15;

/// The most edges a graph stores: edge offsets are 32-bit (4 billion edges would take
/// 32 GB). A state whose edges would go beyond is truncated, as by `max_states`.
const MAX_EDGES: usize = u32::MAX as usize;

/// Fingerprint -> state number: open addressing with linear probing (`fp == 0` marks an
/// empty slot; the fingerprint 0 is stored as 1). A slot holds both, in 12 bytes, so a
/// probe touches one cache line (rarely two) where two parallel arrays touched two.
struct Index {
    slots: Vec<IndexSlot>,
    len: usize,
}

#[derive(Clone, Copy, Default)]
struct IndexSlot {
    /// The fingerprint, as two halves: 4-byte alignment keeps the slot at 12 bytes.
    fp: [u32; 2],
    id: u32,
}

impl IndexSlot {
    #[inline]
    fn fp(&self) -> u64 {
        (self.fp[1] as u64) << 32 | self.fp[0] as u64
    }
}

impl Index {
    const MIN: usize = 1 << 12;

    fn new() -> Index {
        Index {
            slots: search::table(Self::MIN, IndexSlot::default),
            len: 0,
        }
    }

    /// Starts loading the slot where a probe for `fp` begins.
    #[inline]
    fn prefetch(&self, fp: u64) {
        let i = fp.max(1) as usize & (self.slots.len() - 1);
        search::prefetch(&self.slots[i]);
    }

    #[inline]
    fn get(&self, fp: u64) -> Option<u32> {
        let fp = fp.max(1);
        let mask = self.slots.len() - 1;
        let mut i = fp as usize & mask;
        loop {
            let slot = &self.slots[i];
            match slot.fp() {
                0 => return None,
                f if f == fp => return Some(slot.id),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Inserts a fingerprint that is not there yet.
    fn insert(&mut self, fp: u64, id: u32) {
        if 4 * (self.len + 1) >= 3 * self.slots.len() {
            self.grow();
        }
        self.place(fp.max(1), id);
        self.len += 1;
    }

    fn place(&mut self, fp: u64, id: u32) {
        let mask = self.slots.len() - 1;
        let mut i = fp as usize & mask;
        while self.slots[i].fp() != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = IndexSlot {
            fp: [fp as u32, (fp >> 32) as u32],
            id,
        };
    }

    #[cold]
    fn grow(&mut self) {
        let n = 2 * self.slots.len();
        let old = std::mem::replace(&mut self.slots, search::table(n, IndexSlot::default));
        for slot in old.into_iter().filter(|s| s.fp() != 0) {
            self.place(slot.fp(), slot.id);
        }
    }

    fn bytes(&self) -> usize {
        self.slots.capacity() * size_of::<IndexSlot>()
    }
}

pub(crate) struct Graph {
    index: Index,
    /// [`Parent::src`] of each state.
    parent_src: Vec<u32>,
    /// [`Parent::index`] of each state.
    parent_index: Vec<u16>,
    /// Out-edges of state `i` are `edges[offsets[i]..offsets[i + 1]]`, in action order.
    offsets: Vec<u32>,
    edges: Vec<Edge>,
    /// Per state, a bitset (`words` words) of the classes enabled there.
    enabled: Vec<fairness::Word>,
    words: usize,
    /// Per state, bit `k` set when predicate `k` holds there, and [`TRUNCATED`].
    marks: Vec<u16>,
    pub out_of_boundary: usize,
    /// Successors (or init states) that were not stored because of `max_states`.
    pub cut_by_max_states: usize,
    /// Successors not stored because the graph holds `max_edges` edges.
    pub cut_by_edge_limit: usize,
    /// The most edges stored ([`MAX_EDGES`]).
    max_edges: usize,
    /// States left unexpanded in the queue when the timeout struck.
    pub cut_by_timeout: usize,
    /// Look-ups made in the fingerprint index: initial states and successors.
    pub lookups: usize,
    /// Largest number of full states held at once (the BFS queue).
    pub peak_queue: usize,
}

impl Graph {
    pub(crate) fn len(&self) -> usize {
        self.parent_src.len()
    }

    #[inline]
    pub(crate) fn parent(&self, s: u32) -> Parent {
        Parent {
            src: self.parent_src[s as usize],
            index: self.parent_index[s as usize] as u32,
        }
    }

    pub(crate) fn edge_count(&self) -> usize {
        self.edges.len()
    }

    #[inline]
    pub(crate) fn out(&self, s: u32) -> &[Edge] {
        let s = s as usize;
        &self.edges[self.offsets[s] as usize..self.offsets[s + 1] as usize]
    }

    #[inline]
    pub(crate) fn enabled(&self, s: u32) -> &[fairness::Word] {
        let s = s as usize;
        &self.enabled[s * self.words..(s + 1) * self.words]
    }

    #[inline]
    pub(crate) fn is_enabled(&self, s: u32, class: u16) -> bool {
        fairness::has(self.enabled(s), class)
    }

    /// Predicate `k` holds in state `s`.
    #[inline]
    pub(crate) fn pending(&self, s: u32, k: usize) -> bool {
        self.marks[s as usize] >> k & 1 != 0
    }

    #[inline]
    pub(crate) fn truncated(&self, s: u32) -> bool {
        self.marks[s as usize] & TRUNCATED != 0
    }

    /// States where predicate `k` holds.
    pub(crate) fn count_pending(&self, k: usize) -> usize {
        self.marks.iter().filter(|&&x| x >> k & 1 != 0).count()
    }

    pub(crate) fn count_truncated(&self) -> usize {
        self.marks.iter().filter(|&&x| x & TRUNCATED != 0).count()
    }

    /// Bytes held by the graph (capacities, not lengths). States are not part of it.
    pub(crate) fn bytes(&self) -> usize {
        self.index.bytes()
            + self.parent_src.capacity() * size_of::<u32>()
            + self.parent_index.capacity() * size_of::<u16>()
            + self.offsets.capacity() * size_of::<u32>()
            + self.edges.capacity() * size_of::<Edge>()
            + self.enabled.capacity() * size_of::<fairness::Word>()
            + self.marks.capacity() * size_of::<u16>()
    }

    /// Why the graph is not the whole reachable state space, if it is not.
    pub(crate) fn truncation_reason(&self, max_states: Option<usize>) -> Option<String> {
        let mut reasons = Vec::new();
        if self.out_of_boundary > 0 {
            reasons.push(format!(
                "{} state(s) outside within_boundary were not expanded",
                self.out_of_boundary
            ));
        }
        if self.cut_by_max_states > 0 {
            let bound = max_states.map_or("the u32 state index limit".into(), |m| {
                format!("max_states = {m}")
            });
            reasons.push(format!(
                "{bound} reached ({} successor(s) not stored)",
                self.cut_by_max_states
            ));
        }
        if self.cut_by_edge_limit > 0 {
            reasons.push(format!(
                "the graph's limit of {} edges reached ({} successor(s) not stored)",
                self.max_edges, self.cut_by_edge_limit
            ));
        }
        if self.cut_by_timeout > 0 {
            reasons.push(format!(
                "the timeout struck ({} state(s) not expanded)",
                self.cut_by_timeout
            ));
        }
        (!reasons.is_empty()).then(|| {
            format!(
                "{}; no fair pending cycle was found among the fully expanded states",
                reasons.join("; ")
            )
        })
    }

    /// Stores a new state reached from `src` by action `index` (an action index, or an
    /// init index when `src` is [`ROOT`]; both below 65536).
    fn push_state(&mut self, fp: u64, src: u32, index: u16) -> u32 {
        let id = self.len() as u32;
        self.index.insert(fp, id);
        self.parent_src.push(src);
        self.parent_index.push(index);
        self.enabled.extend(std::iter::repeat_n(0, self.words));
        self.marks.push(0);
        id
    }
}

/// Clock reads: once per this many expansions.
const CLOCK_EVERY: usize = 1024;

/// Enumerates the graph breadth-first, in the model's own order (as the reference does),
/// evaluating every predicate of `pending` (at most [`MAX_PREDICATES`]) on every stored
/// state. Stops expanding at `deadline`: what is left in the queue is truncated.
pub(crate) fn explore<M>(
    model: &M,
    classes: &Classes,
    pending: &[crate::Predicate<'_, M::State>],
    max_states: Option<usize>,
    timeout: Option<Duration>,
) -> Graph
where
    M: FairModel,
    M::State: Hash + Clone,
{
    explore_capped(model, classes, pending, max_states, timeout, MAX_EDGES)
}

/// [`explore`] storing at most `max_edges` edges (a parameter for the tests).
fn explore_capped<M>(
    model: &M,
    classes: &Classes,
    pending: &[crate::Predicate<'_, M::State>],
    max_states: Option<usize>,
    timeout: Option<Duration>,
    max_edges: usize,
) -> Graph
where
    M: FairModel,
    M::State: Hash + Clone,
{
    assert!(
        pending.len() <= MAX_PREDICATES,
        "internal error: too many predicates"
    );
    let pending_bits = |s: &M::State| {
        pending
            .iter()
            .enumerate()
            .fold(0u16, |bits, (k, p)| bits | (p(s) as u16) << k)
    };
    let deadline = timeout.map(|t| Instant::now() + t);
    let cap = max_states.unwrap_or(usize::MAX).min(ROOT as usize);
    let words = classes.words();
    let mut g = Graph {
        index: Index::new(),
        parent_src: Vec::new(),
        parent_index: Vec::new(),
        offsets: vec![0],
        edges: Vec::new(),
        enabled: Vec::new(),
        words,
        marks: Vec::new(),
        out_of_boundary: 0,
        cut_by_max_states: 0,
        cut_by_edge_limit: 0,
        max_edges,
        cut_by_timeout: 0,
        lookups: 0,
        peak_queue: 0,
    };
    // States wait here, in id order, until expanded: the queue's front is state `id`.
    let mut queue: VecDeque<M::State> = VecDeque::new();
    for (i, s) in model.init_states().into_iter().enumerate() {
        let fp = search::fingerprint(&s);
        g.lookups += 1;
        if g.index.get(fp).is_some() {
            continue;
        }
        if g.len() >= cap {
            g.cut_by_max_states += 1;
            continue;
        }
        let i = u16::try_from(i).expect("more than 65536 initial states");
        g.push_state(fp, ROOT, i);
        queue.push_back(s);
    }

    let mut actions = Vec::new();
    // Successors of the state being expanded (slots reused across states), and their
    // action index, class and fingerprint.
    let mut succ: Vec<M::State> = Vec::new();
    let mut meta: Vec<(u16, u16, u64)> = Vec::new();
    let mut id = 0usize;
    while let Some(s) = queue.pop_front() {
        g.peak_queue = g.peak_queue.max(queue.len() + 1);
        g.marks[id] = pending_bits(&s);
        let timed_out =
            deadline.is_some_and(|d| id.is_multiple_of(CLOCK_EVERY) && Instant::now() >= d);
        if timed_out {
            // This state and every one still queued stay unexpanded.
            g.cut_by_timeout = queue.len() + 1;
            g.marks[id] |= TRUNCATED;
            g.offsets.push(g.edges.len() as u32);
            for (k, rest) in queue.drain(..).enumerate() {
                g.marks[id + 1 + k] = pending_bits(&rest) | TRUNCATED;
                g.offsets.push(g.edges.len() as u32);
            }
            break;
        }
        if !model.within_boundary(&s) {
            g.marks[id] |= TRUNCATED;
            g.out_of_boundary += 1;
            g.offsets.push(g.edges.len() as u32);
            id += 1;
            continue;
        }
        model.actions(&s, &mut actions);
        // Each successor is stepped in a slot of `succ` (a copy of `s`) and its index slot
        // prefetched; then they are looked up in action order (the numbering is the
        // reference's, which looks them up in that order) while the slots load.
        let mut n = 0;
        for (ai, a) in actions.drain(..).enumerate() {
            if n == succ.len() {
                succ.push(s.clone());
            } else {
                succ[n].clone_from(&s);
            }
            let class = classes.dense(model.fairness_class(&s, &a));
            if !model.next_state_in_place(&s, &mut succ[n], a) {
                continue; // an ignored action
            }
            let fp = search::fingerprint(&succ[n]);
            g.index.prefetch(fp);
            let ai = u16::try_from(ai).expect("more than 65535 actions in one state");
            meta.push((ai, class, fp));
            n += 1;
        }
        for (j, (action_index, class, fp)) in meta.drain(..).enumerate() {
            g.lookups += 1;
            let found = g.index.get(fp);
            if found == Some(id as u32) {
                continue; // a stuttering step
            }
            // Every other step enables its class here, stored or cut.
            if class != NO_CLASS {
                fairness::set(&mut g.enabled[id * words..(id + 1) * words], class);
            }
            if g.edges.len() >= max_edges {
                g.marks[id] |= TRUNCATED;
                g.cut_by_edge_limit += 1;
                continue;
            }
            let dst = match found {
                Some(dst) => dst,
                None if g.len() < cap => {
                    queue.push_back(succ[j].clone());
                    g.push_state(fp, id as u32, action_index)
                }
                None => {
                    g.marks[id] |= TRUNCATED;
                    g.cut_by_max_states += 1;
                    continue;
                }
            };
            g.edges.push(Edge {
                dst,
                action_index,
                class,
            });
        }
        g.offsets.push(g.edges.len() as u32);
        id += 1;
    }
    debug_assert_eq!(g.offsets.len(), g.len() + 1);
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FairnessDecl;

    /// A ring of 6 states, each step weakly fair.
    struct Ring;

    impl stateright::Model for Ring {
        type State = u8;
        type Action = u8;
        fn init_states(&self) -> Vec<u8> {
            vec![0]
        }
        fn actions(&self, _: &u8, actions: &mut Vec<u8>) {
            actions.push(1);
        }
        fn next_state(&self, s: &u8, a: u8) -> Option<u8> {
            Some((s + a) % 6)
        }
    }

    impl search::InPlace for Ring {}

    impl FairModel for Ring {
        fn fairness_class(&self, _: &u8, _: &u8) -> Option<u16> {
            Some(0)
        }
        fn fairness_decls(&self) -> Vec<FairnessDecl> {
            vec![FairnessDecl::weak(0, "step")]
        }
    }

    /// The edge limit truncates like `max_states`: the states whose edges were not
    /// stored are truncated, and the graph names the limit.
    #[test]
    fn the_edge_limit_truncates_the_graph() {
        let classes = Classes::new(Ring.fairness_decls());
        let all: &dyn Fn(&u8) -> bool = &|_| true;
        let whole = explore_capped(&Ring, &classes, &[all], None, None, MAX_EDGES);
        assert_eq!((whole.len(), whole.edge_count()), (6, 6));
        assert_eq!(whole.truncation_reason(None), None);

        let cut = explore_capped(&Ring, &classes, &[all], None, None, 3);
        assert_eq!(
            (cut.len(), cut.edge_count(), cut.cut_by_edge_limit),
            (4, 3, 1)
        );
        assert!(cut.truncated(3) && !cut.truncated(2));
        let reason = cut.truncation_reason(None).expect("truncated");
        assert!(reason.contains("limit of 3 edges"), "{reason}");
    }
}
