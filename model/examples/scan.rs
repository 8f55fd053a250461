use ::model::{Bug, Config, Design, GmemModel};
use stateright::{Checker, Model};
fn run(cfg: Config) {
    let label = cfg.label();
    let m = GmemModel::new(cfg).unwrap();
    let props: Vec<_> = m.properties().iter().map(|p| p.name).collect();
    let t = std::time::Instant::now();
    let c = m.clone().checker().threads(2).spawn_dfs().join();
    let mut out = vec![];
    for p in &props {
        let d = c.discovery(p);
        let prop = m.properties().into_iter().find(|x| x.name == *p).unwrap();
        let always = matches!(prop.expectation, stateright::Expectation::Always);
        out.push(match (always, d.is_some()) {
            (true, true) => format!(
                "VIOLATED {p} ({} steps)",
                c.discovery(p).unwrap().into_actions().len()
            ),
            (false, false) => format!("NOTFOUND {p}"),
            _ => continue,
        });
    }
    println!(
        "{label}: unique={} gen={} {:.2?} {:?}",
        c.unique_state_count(),
        c.state_count(),
        t.elapsed(),
        out
    );
}
fn main() {
    if let Some(a) = std::env::args().nth(1) {
        let mut it = a.split(":");
        let (c, p) = (it.next().unwrap(), it.next().unwrap());
        let cfg = if let Ok(d) = c.parse::<Design>() {
            Config::for_design(d)
        } else {
            Config::for_bug(c.parse::<Bug>().unwrap())
        };
        trace(cfg, Box::leak(p.to_string().into_boxed_str()));
        return;
    }
    for d in Design::ALL {
        run(Config::for_design(d));
    }
    for b in Bug::ALL {
        run(Config::for_bug(b));
    }
}
#[allow(dead_code)]
pub fn trace(cfg: Config, prop: &'static str) {
    let m = GmemModel::new(cfg).unwrap();
    let c = m.clone().checker().spawn_bfs().join();
    let Some(p) = c.discovery(prop) else {
        println!("no discovery");
        return;
    };
    let v = p.into_vec();
    for w in v.windows(2) {
        let (s, a) = (&w[0].0, w[0].1.unwrap());
        println!(
            "{:>10} | {:<45} | {:?}",
            a.actor().name(),
            ::model::describe::step_label(&m, s, a),
            ::model::describe::changes(&m, s, &w[1].0)
        );
    }
    let last = &v.last().unwrap().0;
    println!(
        "{:#?}",
        last.folios
            .iter()
            .filter(|f| f.state != ::model::state::FolioState::Unused)
            .collect::<Vec<_>>()
    );
    let view = ::model::view::View::new(&m, last);
    use invariants::GmemView;
    view.for_each_folio(&mut |f| println!("{f:?}"));
}
