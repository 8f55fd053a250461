//! Shortest, deterministic paths by our own single-threaded BFS.
//!
//! Stateright 0.31's BFS overwrites discoveries (so its paths are not the
//! shortest: in stateright 0.31.0 `src/checker/{bfs,dfs}.rs` an already
//! discovered property is re-evaluated and its path replaced, since commit
//! 7dadff7 "Add fix for eventually bug to all checkers") and DFS paths are
//! long. This BFS visits
//! init states, then `actions()` in order, and stops each target at the
//! first state of minimal depth where it holds: the same command always gives
//! the same path. States are identified by a 64-bit hash (like Stateright's
//! fingerprints); paths are rebuilt by replaying action indices, so they are exact.

use crate::trace::{Step, Trace};
use model::{GmemModel, State};
use stateright::Model;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};

/// A deterministic, seedless hasher for state identity.
fn fingerprint(s: &State) -> u64 {
    std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(s)
}

const ROOT: u32 = u32::MAX;

/// Per node: parent node (or ROOT) and the action index (or init index) that reached it.
struct Tree {
    parent: Vec<(u32, u32)>,
}

impl Tree {
    fn path(&self, mut n: u32) -> (usize, Vec<usize>) {
        let mut idx = Vec::new();
        loop {
            let (p, i) = self.parent[n as usize];
            if p == ROOT {
                idx.reverse();
                return (i as usize, idx);
            }
            idx.push(i as usize);
            n = p;
        }
    }
}

/// Rebuilds a trace from an init index and action indices.
pub fn trace_from_indices(m: &GmemModel, init_index: usize, idx: &[usize]) -> Trace {
    let init = m.init_states().swap_remove(init_index);
    let mut cur = init;
    let mut steps = Vec::with_capacity(idx.len());
    let mut actions = Vec::new();
    for &i in idx {
        actions.clear();
        m.actions(&cur, &mut actions);
        let a = actions[i];
        let next = m
            .next_state(&cur, a)
            .expect("a BFS edge replays (the model is deterministic)");
        steps.push(Step {
            action: a,
            action_index: i,
            state: next,
        });
        cur = next;
    }
    Trace {
        init_index,
        init,
        steps,
        loop_start: None,
        witnesses: vec![],
    }
}

/// For each target `k`, a shortest path to a state where `hit(state, k)` holds.
/// Targets never reached (within `max_states` stored states) are absent.
pub fn shortest<K: Copy + Eq + Hash>(
    m: &GmemModel,
    targets: &[K],
    hit: impl Fn(&State, K) -> bool,
    max_states: Option<usize>,
) -> HashMap<K, Trace> {
    let mut found: HashMap<K, u32> = HashMap::new();
    let mut tree = Tree { parent: Vec::new() };
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut queue: VecDeque<(State, u32)> = VecDeque::new();
    let check = |s: &State, n: u32, found: &mut HashMap<K, u32>| {
        for &k in targets {
            if !found.contains_key(&k) && hit(s, k) {
                found.insert(k, n);
            }
        }
        found.len() == targets.len()
    };
    let mut done = targets.is_empty();
    for (i, s) in m.init_states().into_iter().enumerate() {
        if done {
            break;
        }
        let fp = fingerprint(&s);
        if seen.contains_key(&fp) {
            continue;
        }
        let n = tree.parent.len() as u32;
        tree.parent.push((ROOT, i as u32));
        seen.insert(fp, n);
        done = check(&s, n, &mut found);
        queue.push_back((s, n));
    }
    let mut actions = Vec::new();
    'bfs: while let Some((s, n)) = queue.pop_front() {
        if done {
            break;
        }
        if !m.within_boundary(&s) {
            continue;
        }
        actions.clear();
        m.actions(&s, &mut actions);
        for (i, &a) in actions.iter().enumerate() {
            let Some(next) = m.next_state(&s, a) else {
                continue;
            };
            let fp = fingerprint(&next);
            if seen.contains_key(&fp) {
                continue;
            }
            if max_states.is_some_and(|max| tree.parent.len() >= max) {
                break 'bfs;
            }
            let c = tree.parent.len() as u32;
            tree.parent.push((n, i as u32));
            seen.insert(fp, c);
            if check(&next, c, &mut found) {
                break 'bfs;
            }
            queue.push_back((next, c));
        }
    }
    found
        .into_iter()
        .map(|(k, n)| {
            let (init, idx) = tree.path(n);
            (k, trace_from_indices(m, init, &idx))
        })
        .collect()
}
