//! The Stateright `Model`: initial state, enabled actions, one atomic step.

use crate::actors::{
    converter, guest, gup, host, memory_failure, populate, secondary_mmu, truncate, Action, Actor,
};
use crate::config::{Config, ConfigError, MAX_CONVERTERS, MAX_PAGES, MAX_PINNERS, MAX_PROCS};
use crate::state::*;
use crate::view::View;
use invariants::PropertyId;
use invariants::MAX_VMS;
use stateright::{Model, Property};

thread_local! {
    /// The label `format_step` computed last, for `format_action` (see there).
    static LAST_LABEL: std::cell::RefCell<Option<(Action, String)>> =
        const { std::cell::RefCell::new(None) };
}

/// The guest_memfd conversion protocol under one configuration.
#[derive(Clone, Debug)]
pub struct GmemModel {
    /// Read with [`GmemModel::cfg`]; changed only through
    /// `GmemModel::edit_cfg`, which keeps `actors` in step.
    cfg: Config,
    /// The configuration's actors ([`GmemModel::actor_list`]), listed once:
    /// every expanded state asks for them.
    actors: ActorList,
}

/// The most actors a configuration has: every converter thread, process,
/// GUP user and vCPU, and one of each other kind (truncator, populate,
/// speculative walker, pool callback, memory failure, -ENOMEM, secondary MMU).
const MAX_ACTORS: usize = MAX_CONVERTERS + MAX_PROCS + MAX_PINNERS + MAX_VMS + 7;

/// A configuration's actors in a fixed-size array ([`GmemModel::actor_list`]).
#[derive(Clone, Copy, Debug)]
pub struct ActorList {
    list: [Actor; MAX_ACTORS],
    len: usize,
}

impl Default for ActorList {
    fn default() -> ActorList {
        ActorList {
            list: [Actor::Converter(0); MAX_ACTORS],
            len: 0,
        }
    }
}

impl ActorList {
    fn push(&mut self, a: Actor) {
        // Config::validate bounds processes, GUP users and VMs by the
        // state's arrays, so the list cannot overflow.
        self.list[self.len] = a;
        self.len += 1;
    }
}

impl std::ops::Deref for ActorList {
    type Target = [Actor];
    fn deref(&self) -> &[Actor] {
        &self.list[..self.len]
    }
}

impl GmemModel {
    /// Validates the configuration; an invalid one is an error, never a panic.
    pub fn new(cfg: Config) -> Result<GmemModel, ConfigError> {
        cfg.validate()?;
        Ok(GmemModel::of_valid(cfg))
    }

    /// The model of a configuration already validated.
    pub(crate) fn of_valid(cfg: Config) -> GmemModel {
        let actors = actors_of(&cfg);
        GmemModel { cfg, actors }
    }

    /// The configuration.
    pub fn cfg(&self) -> &Config {
        &self.cfg
    }

    /// Edits the configuration and lists its actors again: `crate::seq`
    /// scripts each uAPI call as it comes (a process's access, a GUP
    /// user, a conversion, a guest fault, a punch), which adds actors.
    pub(crate) fn edit_cfg<R>(&mut self, edit: impl FnOnce(&mut Config) -> R) -> R {
        let r = edit(&mut self.cfg);
        self.actors = actors_of(&self.cfg);
        r
    }

    pub fn init_state(&self) -> State {
        let mut pages = [Page::default(); MAX_PAGES];
        for p in pages.iter_mut().take(self.cfg.pages as usize) {
            p.private = !self.cfg.init_shared;
        }
        State {
            nr_pages: self.cfg.pages,
            pages,
            folios: [Folio::default(); MAX_FOLIOS],
            gigantic: [Gigantic::default(); 2],
            invalidate_lock: RwSem::default(),
            closed: false,
            conv: Default::default(),
            procs: Default::default(),
            pinners: Default::default(),
            guests: Default::default(),
            bound: (1u8 << self.cfg.vms) - 1,
            trunc: Truncator::default(),
            populate: Populate::default(),
            spec: SpecPc::Idle.into(),
            mf: MfPc::Idle.into(),
            dev: Device::default(),
            last_access: Default::default(),
        }
    }

    /// Every actor that exists in this configuration, in a fixed order.
    pub fn actors(&self) -> Vec<Actor> {
        self.actor_list().to_vec()
    }

    /// [`GmemModel::actors`] without allocating: `actions()` asks for it on
    /// every state the search expands. Listed once, when the model is made
    /// (the configuration is changed only through `GmemModel::edit_cfg`,
    /// which lists them again).
    pub fn actor_list(&self) -> ActorList {
        self.actors
    }

    /// Whether actor `a` can start an operation and whether it has one in
    /// flight, in one dispatch (`actions()` asks both of every actor on
    /// every expanded state).
    #[inline]
    fn enabled(&self, st: &State, a: Actor) -> (bool, bool) {
        let c = &self.cfg;
        match a {
            Actor::Converter(k) => (
                converter::can_start(c, st, k as usize),
                converter::in_flight(c, st, k as usize),
            ),
            Actor::Proc(p) => (
                host::can_start(c, st, p as usize),
                host::in_flight(st, p as usize),
            ),
            Actor::Pinner(k) => (
                gup::can_start(c, st, k as usize),
                gup::in_flight(c, st, k as usize),
            ),
            Actor::Guest(v) => (
                guest::can_start(c, st, v as usize),
                guest::in_flight(st, v as usize),
            ),
            Actor::Truncator => (truncate::can_start(c, st), truncate::in_flight(st)),
            Actor::Populate => (populate::can_start(c, st), populate::in_flight(st)),
            Actor::Speculative => (
                populate::spec_can_start(c, st),
                populate::spec_in_flight(st),
            ),
            Actor::PoolCallback => (false, truncate::pool_callback_enabled(c, st)),
            Actor::MemoryFailure => (
                memory_failure::can_start(c, st),
                memory_failure::in_flight(st),
            ),
            Actor::AllocFail => (converter::failing_converter(c, st).is_some(), false),
            Actor::SecondaryMmu => (
                secondary_mmu::can_start(c, st),
                secondary_mmu::in_flight(st),
            ),
        }
    }

    /// Would `actions(st)` list `action`?
    fn is_listed(&self, st: &State, action: Action) -> bool {
        match action {
            Action::Start(a) => self.enabled(st, a).0,
            Action::Step(a) => self.enabled(st, a).1,
        }
    }

    /// The first `limit` reachable states, breadth first from the initial
    /// state (a sample for tests and tools that check a claim state by
    /// state).
    pub fn bfs_states(&self, limit: usize) -> Vec<State> {
        let mut seen = std::collections::HashSet::new();
        let mut queue: std::collections::VecDeque<State> = self.init_states().into();
        let mut out = Vec::new();
        let mut actions = Vec::new();
        while let Some(s) = queue.pop_front() {
            if out.len() == limit {
                break;
            }
            if !seen.insert(s) {
                continue;
            }
            actions.clear();
            self.actions(&s, &mut actions);
            queue.extend(actions.iter().filter_map(|&a| self.apply(&s, a)));
            out.push(s);
        }
        out
    }

    /// Apply an action; `None` when it is not enabled (blocked on a lock,
    /// spinning on a freeze, or not offered in this state).
    pub fn apply(&self, st: &State, action: Action) -> Option<State> {
        // Built in the returned Option itself: `ok.then_some(next)` copied
        // the whole state once more.
        let mut out = Some(*st);
        let ok = self.apply_in_place(st, out.as_mut()?, action);
        if ok {
            out
        } else {
            None
        }
    }

    /// [`GmemModel::apply`] into `next`, which equals `st` on entry: false
    /// when the action is not enabled (`next` is then left partly
    /// stepped). The search builds every successor this way, in a slot of
    /// its stack ([`search::InPlace`]).
    pub fn apply_in_place(&self, st: &State, next: &mut State, action: Action) -> bool {
        self.is_listed(st, action) && self.apply_listed(st, next, action)
    }

    /// [`GmemModel::apply_in_place`] for an action `actions(st)` listed
    /// ([`GmemModel::is_listed`]): the search does not pay for that test
    /// twice.
    fn apply_listed(&self, st: &State, next: &mut State, action: Action) -> bool {
        let c = &self.cfg;
        next.last_access.set(None);
        match action {
            Action::Start(a) => {
                match a {
                    Actor::Converter(k) => converter::start(c, next, k as usize),
                    Actor::Proc(p) => host::start(c, next, p as usize),
                    Actor::Pinner(k) => gup::start(c, next, k as usize),
                    Actor::Guest(v) => guest::start(c, next, v as usize),
                    Actor::Truncator => truncate::start(next),
                    Actor::Populate => populate::start(c, next),
                    Actor::Speculative => return populate::spec_start(c, next),
                    Actor::PoolCallback => return false,
                    Actor::MemoryFailure => memory_failure::start(c, next),
                    Actor::AllocFail => match converter::failing_converter(c, st) {
                        Some(k) => converter::prealloc_fail(c, next, k),
                        None => return false,
                    },
                    Actor::SecondaryMmu => secondary_mmu::start(next),
                }
                true
            }
            Action::Step(a) => match a {
                Actor::Converter(k) => converter::step(c, next, k as usize),
                Actor::Proc(p) => host::step(c, next, p as usize),
                Actor::Pinner(k) => gup::step(c, next, k as usize),
                Actor::Guest(v) => guest::step(c, next, v as usize),
                Actor::Truncator => truncate::step(c, next),
                Actor::Populate => populate::step(c, next),
                Actor::Speculative => populate::spec_step(c, next),
                Actor::PoolCallback => {
                    truncate::pool_callback(&self.cfg, next);
                    true
                }
                Actor::MemoryFailure => memory_failure::step(c, next),
                Actor::AllocFail => false,
                Actor::SecondaryMmu => secondary_mmu::step(c, next),
            },
        }
    }
}

/// Successors are stepped in the search's own stack slot, and the
/// properties of one state share one view of it.
impl search::InPlace for GmemModel {
    fn next_state_in_place(&self, prev: &State, next: &mut State, action: Action) -> bool {
        debug_assert!(
            self.is_listed(prev, action),
            "{action:?} was not listed by actions()"
        );
        self.apply_listed(prev, next, action)
    }

    /// The property's `PropertyId` index (`PropertyId::all()` order), or
    /// `usize::MAX` for a property that is not one of ours (its condition
    /// is then called as is).
    fn property_keys(&self, props: &[Property<Self>]) -> Vec<usize> {
        props
            .iter()
            .map(|p| {
                PropertyId::all()
                    .position(|id| id.name() == p.name)
                    .unwrap_or(usize::MAX)
            })
            .collect()
    }

    /// Every property's condition is `id.eval(&View::new(self, st))`
    /// (`crate::properties::stateright_property`); here they share one
    /// [`View`], so the holders are gathered once per state.
    fn evaluate(
        &self,
        st: &State,
        props: &[Property<Self>],
        keys: &[usize],
        pending: &[usize],
        report: &mut dyn FnMut(usize, bool),
    ) {
        let view = View::new(self, st);
        for &i in pending {
            let holds = match PROPERTY_IDS.get(keys[i]) {
                Some(id) => id.eval(&view),
                None => (props[i].condition)(self, st),
            };
            report(i, holds);
        }
    }
}

/// `PropertyId::all()`, indexed by [`search::InPlace::property_keys`].
static PROPERTY_IDS: std::sync::LazyLock<Vec<PropertyId>> =
    std::sync::LazyLock::new(|| PropertyId::all().collect());

impl Model for GmemModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.init_state()]
    }

    fn actions(&self, st: &State, actions: &mut Vec<Action>) {
        for &a in self.actor_list().iter() {
            let (start, step) = self.enabled(st, a);
            if start {
                actions.push(Action::Start(a));
            }
            if step {
                actions.push(Action::Step(a));
            }
        }
    }

    fn next_state(&self, st: &State, action: Action) -> Option<State> {
        self.apply(st, action)
    }

    /// The kernel step (`converter: filemap_invalidate_lock()`), as the
    /// explorer's Path of Actions and Next Action Choices show it. A label
    /// depends on the state, which this method is not given: the explorer
    /// (stateright 0.31 `checker/explorer.rs`) calls [`Model::format_step`]
    /// with the state just before `format_action` for the same action, and
    /// `format_step` leaves its label here. Any other caller gets the
    /// state-free form (`converter: start an operation` / `next step`).
    fn format_action(&self, action: &Action) -> String {
        let label = LAST_LABEL.with(|l| l.borrow_mut().take());
        match (label, action) {
            (Some((a, s)), _) if a == *action => s,
            (_, Action::Start(a)) => format!("{a}: start an operation"),
            (_, Action::Step(a)) => format!("{a}: next step"),
        }
    }

    /// The kernel step and the state it leads to, in the same words as the
    /// timelines (`describe::state_text`: no program-counter names).
    fn format_step(&self, last: &State, action: Action) -> Option<String> {
        let label = format!(
            "{}: {}",
            action.actor(),
            crate::describe::step_label(self, last, action)
        );
        LAST_LABEL.with(|l| *l.borrow_mut() = Some((action, label.clone())));
        let next = self.apply(last, action)?;
        Some(format!(
            "{label}\n\n{}",
            crate::describe::state_text(self, &next)
        ))
    }

    /// The current path as a sequence diagram (see [`crate::svg`]); the
    /// explorer shows it under the state.
    fn as_svg(&self, path: stateright::Path<State, Action>) -> Option<String> {
        Some(crate::svg::explorer(self, &path.into_vec()))
    }

    fn properties(&self) -> Vec<Property<Self>> {
        crate::properties::stateright_properties(self)
    }
}

/// The actors of `c`, in the order `actions()` lists their actions.
fn actors_of(c: &Config) -> ActorList {
    let mut v = ActorList::default();
    for k in c.converters() {
        v.push(Actor::Converter(k));
    }
    for p in 0..c.procs.len() as u8 {
        v.push(Actor::Proc(p));
    }
    for k in 0..c.pinners.len() as u8 {
        v.push(Actor::Pinner(k));
    }
    for vm in 0..c.vms {
        if guest::has_vcpu(c, vm as usize) {
            v.push(Actor::Guest(vm));
        }
    }
    if c.truncate.is_some() {
        v.push(Actor::Truncator);
    }
    if c.populate.is_some() {
        v.push(Actor::Populate);
    }
    if c.speculative.is_some() {
        v.push(Actor::Speculative);
    }
    if c.design.is_huge() && matches!(c.truncate, Some(crate::config::TruncOp::Close)) {
        v.push(Actor::PoolCallback);
    }
    if c.memory_failure.is_some() {
        v.push(Actor::MemoryFailure);
    }
    if c.enomem {
        v.push(Actor::AllocFail);
    }
    if c.secondary_mmu.is_some() {
        v.push(Actor::SecondaryMmu);
    }
    v
}
