//! The reachable graph, enumerated breadth-first, kept without its states.
//!
//! A state is known by its 64-bit fingerprint (the `search` crate's, so both engines see
//! the same collisions) and numbered in BFS order. Per state the graph keeps its BFS parent
//! (8 B), the start of its out-edges (8 B), the fairness classes enabled there (8 B per 64
//! classes), a truncated flag (1 B), one pending bit per predicate (2 B: the graph does not
//! depend on the predicates, so one enumeration serves up to [`MAX_PREDICATES`] of them)
//! and one slot of the fingerprint index (12 B per slot at a load of 3/8 to 3/4: 16-32 B);
//! per non-stuttering transition 8 B (`dst`, action index, class). States themselves are
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

const TRUNCATED: u8 = 1;

/// Predicates one enumeration evaluates (one bit each in [`Graph::pending`]).
pub(crate) const MAX_PREDICATES: usize = 16;

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
            slots: vec![IndexSlot::default(); Self::MIN],
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
        let old = std::mem::replace(&mut self.slots, vec![IndexSlot::default(); n]);
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
    pub parents: Vec<Parent>,
    /// Out-edges of state `i` are `edges[offsets[i]..offsets[i + 1]]`, in action order.
    offsets: Vec<u64>,
    edges: Vec<Edge>,
    /// Per state, a bitset (`words` words) of the classes enabled there.
    enabled: Vec<u64>,
    words: usize,
    flags: Vec<u8>,
    /// Per state, bit `k` set when predicate `k` holds there.
    pending: Vec<u16>,
    pub out_of_boundary: usize,
    /// Successors (or init states) that were not stored because of `max_states`.
    pub cut_by_max_states: usize,
    /// States left unexpanded in the queue when the timeout struck.
    pub cut_by_timeout: usize,
    /// Look-ups made in the fingerprint index: initial states and successors.
    pub lookups: usize,
    /// Largest number of full states held at once (the BFS queue).
    pub peak_queue: usize,
}

impl Graph {
    pub(crate) fn len(&self) -> usize {
        self.parents.len()
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
    pub(crate) fn enabled(&self, s: u32) -> &[u64] {
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
        self.pending[s as usize] >> k & 1 != 0
    }

    #[inline]
    pub(crate) fn truncated(&self, s: u32) -> bool {
        self.flags[s as usize] & TRUNCATED != 0
    }

    /// States where predicate `k` holds.
    pub(crate) fn count_pending(&self, k: usize) -> usize {
        self.pending.iter().filter(|&&x| x >> k & 1 != 0).count()
    }

    pub(crate) fn count_truncated(&self) -> usize {
        self.flags.iter().filter(|&&x| x & TRUNCATED != 0).count()
    }

    /// Bytes held by the graph (capacities, not lengths). States are not part of it.
    pub(crate) fn bytes(&self) -> usize {
        self.index.bytes()
            + self.parents.capacity() * size_of::<Parent>()
            + self.offsets.capacity() * size_of::<u64>()
            + self.edges.capacity() * size_of::<Edge>()
            + self.enabled.capacity() * size_of::<u64>()
            + self.flags.capacity()
            + self.pending.capacity() * size_of::<u16>()
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

    fn push_state(&mut self, fp: u64, src: u32, index: u32) -> u32 {
        let id = self.parents.len() as u32;
        self.index.insert(fp, id);
        self.parents.push(Parent { src, index });
        self.enabled.extend(std::iter::repeat_n(0, self.words));
        self.flags.push(0);
        self.pending.push(0);
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
        parents: Vec::new(),
        offsets: vec![0],
        edges: Vec::new(),
        enabled: Vec::new(),
        words,
        flags: Vec::new(),
        pending: Vec::new(),
        out_of_boundary: 0,
        cut_by_max_states: 0,
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
        g.push_state(fp, ROOT, i as u32);
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
        g.pending[id] = pending_bits(&s);
        let timed_out =
            deadline.is_some_and(|d| id.is_multiple_of(CLOCK_EVERY) && Instant::now() >= d);
        if timed_out {
            // This state and every one still queued stay unexpanded.
            g.cut_by_timeout = queue.len() + 1;
            g.flags[id] |= TRUNCATED;
            g.offsets.push(g.edges.len() as u64);
            for (k, rest) in queue.drain(..).enumerate() {
                let j = id + 1 + k;
                g.pending[j] = pending_bits(&rest);
                g.flags[j] |= TRUNCATED;
                g.offsets.push(g.edges.len() as u64);
            }
            break;
        }
        if !model.within_boundary(&s) {
            g.flags[id] |= TRUNCATED;
            g.out_of_boundary += 1;
            g.offsets.push(g.edges.len() as u64);
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
            let dst = match g.index.get(fp) {
                Some(dst) if dst as usize == id => continue, // a stuttering step
                Some(dst) => dst,
                None if g.len() < cap => {
                    queue.push_back(succ[j].clone());
                    g.push_state(fp, id as u32, action_index as u32)
                }
                None => {
                    if class != NO_CLASS {
                        fairness::set(&mut g.enabled[id * words..(id + 1) * words], class);
                    }
                    g.flags[id] |= TRUNCATED;
                    g.cut_by_max_states += 1;
                    continue;
                }
            };
            if class != NO_CLASS {
                fairness::set(&mut g.enabled[id * words..(id + 1) * words], class);
            }
            g.edges.push(Edge {
                dst,
                action_index,
                class,
            });
        }
        g.offsets.push(g.edges.len() as u64);
        id += 1;
    }
    debug_assert_eq!(g.offsets.len(), g.len() + 1);
    g
}
