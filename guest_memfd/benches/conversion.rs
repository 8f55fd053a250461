//! Conversion benchmark (plain std::time; `cargo bench -p guest_memfd`).
//!
//! Per design, on a 1 TiB file of 4K pages (1 GiB gigantic pages for the
//! huge designs): convert a 1 GiB range with no folios present to private
//! and back, punch it, and report metadata bytes per 4K page at 1 TiB
//! (after those operations) and for a fully allocated 1 GiB file.

use guest_memfd::bench::{measure, table};
use guest_memfd::Design;

fn main() {
    let mut rows = Vec::new();
    for d in Design::ALL {
        match measure(d) {
            Ok(r) => rows.push(r),
            Err(e) => eprintln!("{d}: {e}"),
        }
    }
    print!("{}", table(&rows));
}
