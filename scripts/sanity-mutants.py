"""Hand mutation check of the sanity arms of PropertyId::eval (invariants/src/props.rs).

Applies each mutant in turn, runs `cargo test --release -p model` with the given test
selection (default: --test sanity_predicates), reports killed/SURVIVED, and restores the
file. Run from the workspace root: python3 scripts/sanity-mutants.py [cargo test args]
"""
import subprocess, sys

P='invariants/src/props.rs'
orig=open(P).read()
M=[
("M1 succeeds && -> ||","c.to == Attr::Private && c.status == ConvStatus::Returned(ConvResult::Ok)","c.to == Attr::Private || c.status == ConvStatus::Returned(ConvResult::Ok)"),
("M2 succeeds drops to==Private","c.to == Attr::Private && c.status == ConvStatus::Returned(ConvResult::Ok)","c.status == ConvStatus::Returned(ConvResult::Ok)"),
("M3 eagain any return","matches!(c.status, ConvStatus::Returned(ConvResult::Eagain { .. }))","matches!(c.status, ConvStatus::Returned(_))"),
("M4 longterm > -> >=","PageLongtermPinned => any_page(v, |p| p.longterm_pins > 0)","PageLongtermPinned => any_page(v, |p| p.longterm_pins >= 0)"),
("M5 guest private|shared","matches!(p.stage2, Stage2::Private(_))","matches!(p.stage2, Stage2::Private(_) | Stage2::Shared(_))"),
("M6 split -> Split","g.structure == Structure::Splitting)","g.structure == Structure::Split)"),
("M7 merged != Whole","g.structure == Structure::Merging)","g.structure != Structure::Whole)"),
("M8 hostmaps || gets","HostMapsPage => any_page(v, |p| p.host_ptes != 0)","HostMapsPage => any_page(v, |p| p.host_ptes != 0 || p.gets > 0)"),
("M9 hostpins || excl","HostPinsPage => any_page(v, |p| p.host_pinned())","HostPinsPage => any_page(v, |p| p.host_pinned() || p.exclusive_pins > 0)"),
("M10 access any","found |= !matches!(a.who, Accessor::Guest);","found |= true;"),
("M11 folio && -> ||","!f.freed && f.parts.extra() > 0","!f.freed || f.parts.extra() > 0"),
("M12 folio > -> >=","!f.freed && f.parts.extra() > 0","!f.freed && f.parts.extra() >= 0"),
("M13 lock || holds","found |= t.waits_for.is_some()","found |= t.waits_for.is_some() || !t.holds.is_empty()"),
("M14 excl || pins","ExclusivePinHeld => any_page(v, |p| p.exclusive_pins > 0)","ExclusivePinHeld => any_page(v, |p| p.exclusive_pins > 0 || p.pins > 0)"),
("M15 access |= -> &=","found |= !matches!(a.who, Accessor::Guest);","found &= !matches!(a.who, Accessor::Guest);"),
("M16 any_page any -> all","(0..v.nr_pages()).any(|i| f(&v.page(i)))","(0..v.nr_pages()).all(|i| f(&v.page(i)))"),
("M17 any_conversion last wins","v.for_each_conversion(&mut |c| found |= f(c));","v.for_each_conversion(&mut |c| found = f(c));"),
("M18 any_gigantic last wins","v.for_each_gigantic(&mut |g| found |= f(g));","v.for_each_gigantic(&mut |g| found = f(g));"),
("M19 folio last wins","v.for_each_folio(&mut |f| found |= !f.freed && f.parts.extra() > 0);","v.for_each_folio(&mut |f| found = !f.freed && f.parts.extra() > 0);"),
("M20 eagain -> true","ConversionFailsEagain => any_conversion(v, |c| {","ConversionFailsEagain => true || any_conversion(v, |c| {"),
]
test = sys.argv[1:] or ["--test","sanity_predicates"]
res=[]
try:
    for name,a,b in M:
        assert orig.count(a)>=1, name
        open(P,'w').write(orig.replace(a,b,1))
        r=subprocess.run(["cargo","test","--release","-q","-p","model"]+test,capture_output=True,text=True)
        killed = r.returncode!=0
        if "error[" in r.stderr: killed="COMPILE ERROR"
        res.append((name,killed)); print(name, "killed" if killed is True else ("SURVIVED" if not killed else killed), flush=True)
finally:
    open(P,'w').write(orig)
