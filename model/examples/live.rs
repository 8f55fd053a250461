use ::model::gate::{gate_configs, Pass};
use ::model::{properties, GmemModel};
fn main() {
    let filter = std::env::args().nth(1);
    for g in gate_configs() {
        if g.pass != Pass::Liveness {
            continue;
        }
        if let Some(f) = &filter {
            if !g.name.contains(f.as_str()) {
                continue;
            }
        }
        let m = GmemModel::new(g.cfg.clone()).unwrap();
        for id in properties::liveness(&m.cfg) {
            let r = ::model::live::check(&m, id, &Default::default());
            println!("{:32} {:32} {}", g.name, id.name(), r.summary());
            if filter.is_some() {
                if let Some(l) = r.lasso() {
                    println!("{}", l.render_with(|_| String::new(), |a| format!("{a:?}")));
                }
            }
        }
        for id in invariants::PropertyId::liveness() {
            if let Some(why) = properties::not_applicable(&m.cfg, id) {
                println!("{:32} {:32} n/a: {why}", g.name, id.name());
            }
        }
    }
}
