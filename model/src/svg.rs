//! A path through the model as an SVG sequence diagram.
//!
//! One vertical lane per actor ([`GmemModel::actors`]), one box per atomic
//! step in the acting actor's lane (labelled with
//! [`describe::step_label`](crate::describe::step_label)), the page-state
//! changes of that step beside it
//! ([`describe::changes`](crate::describe::changes)), the violated property
//! marked in red at the last step, and for a liveness lasso a bracket from
//! the loop's first step to the end, labelled "repeats forever", with the
//! fairness witnesses underneath.
//!
//! Used by the explorer ([`GmemModel`]'s `Model::as_svg`: the current path,
//! with every safety property violated in its last state marked) and by the
//! checker, which writes `<property>.svg` beside every `<property>.itf.json`.
//! Pure string building, deterministic (same path, same bytes), no fonts
//! measured: text is monospace and wrapped by character count.

use crate::actors::Action;
use crate::describe::{changes, page_summary, step_label};
use crate::model::GmemModel;
use crate::state::State;
use std::fmt::Write;

/// What to draw besides the path itself.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// First heading line (e.g. `inplace+gup_fast_no_recheck: no_private_pin`).
    pub title: Option<String>,
    /// Second heading line (e.g. the property's sentence).
    pub subtitle: Option<String>,
    /// Lasso: the index of the state where the loop starts (0 = initial
    /// state). Steps from this index on repeat forever.
    pub loop_start: Option<usize>,
    /// Marked in red at the last step (e.g. `VIOLATES no_private_pin`).
    pub marker: Option<String>,
    /// Lines printed under the diagram (e.g. the lasso's fairness witnesses).
    pub notes: Vec<String>,
}

// Geometry (pixels). Monospace at FONT px is about CHAR px per character.
const FONT: usize = 12;
const CHAR: f64 = 7.3;
const LINE: usize = 15;
const MARGIN: usize = 16;
const NUM_W: usize = 34;
const LANE_W: usize = 206;
const CHANGES_W: usize = 372;
const BRACKET_W: usize = 150;
const BOX_PAD: usize = 6;
const ROW_GAP: usize = 8;

fn chars_fitting(width: usize) -> usize {
    ((width as f64) / CHAR).floor() as usize
}

/// Escapes text for XML character data and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Wraps `s` into lines of at most `width` characters, breaking at spaces
/// (or after `,`/`(`/`_` inside long words) and hard-breaking words longer
/// than a line.
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let width = width.max(4);
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in s.split(' ').filter(|w| !w.is_empty()) {
        let wlen = word.chars().count();
        let curlen = cur.chars().count();
        if curlen > 0 && curlen + 1 + wlen <= width {
            cur.push(' ');
            cur.push_str(word);
            continue;
        }
        if curlen > 0 {
            lines.push(std::mem::take(&mut cur));
        }
        if wlen <= width {
            cur.push_str(word);
            continue;
        }
        // A word longer than a line: break after punctuation where possible.
        let mut rest: Vec<char> = word.chars().collect();
        while rest.len() > width {
            let cut = rest[..width]
                .iter()
                .rposition(|c| matches!(c, ',' | '(' | '_' | '.' | '/'))
                .map(|p| p + 1)
                .filter(|&p| p > width / 2)
                .unwrap_or(width);
            lines.push(rest[..cut].iter().collect());
            rest.drain(..cut);
        }
        cur = rest.into_iter().collect();
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

struct Row {
    /// Step number shown in the first column (0 = initial state).
    number: usize,
    /// Lane index and box text (None for the initial-state row).
    lane: Option<(usize, Vec<String>, bool)>,
    /// Text beside the step.
    changes: Vec<String>,
    y: usize,
    h: usize,
}

/// Renders `path` (Stateright's shape: each state with the action taken from
/// it, the last state with `None`) as an SVG document.
pub fn render(m: &GmemModel, path: &[(State, Option<Action>)], opts: &Options) -> String {
    let actors = m.actors();
    let lanes = actors.len().max(1);
    let lane_chars = chars_fitting(LANE_W - 2 * BOX_PAD - 8);
    let change_chars = chars_fitting(CHANGES_W - 12);
    let lane_x = |i: usize| MARGIN + NUM_W + i * LANE_W;
    let changes_x = MARGIN + NUM_W + lanes * LANE_W + 8;
    let is_lasso = opts.loop_start.is_some();
    let width = changes_x + CHANGES_W + if is_lasso { BRACKET_W } else { 0 } + MARGIN;

    // Heading.
    let mut y = MARGIN;
    let mut body = String::new();
    let heading_chars = chars_fitting(width - 2 * MARGIN);
    if let Some(t) = &opts.title {
        // 16px bold: about 9.8px per character.
        let title_chars = ((width - 2 * MARGIN) as f64 / 9.8).floor() as usize;
        for l in wrap(t, title_chars) {
            y += 19;
            let _ = writeln!(
                body,
                r#"<text x="{MARGIN}" y="{y}" font-size="16" font-weight="bold">{}</text>"#,
                escape(&l)
            );
        }
    }
    if let Some(t) = &opts.subtitle {
        for l in wrap(t, heading_chars) {
            y += LINE + 1;
            let _ = writeln!(
                body,
                r##"<text x="{MARGIN}" y="{y}" fill="#333">{}</text>"##,
                escape(&l)
            );
        }
    }
    y += 14;

    // Lane headers.
    let header_top = y;
    let header_h = 26;
    for (i, a) in actors.iter().enumerate() {
        let x = lane_x(i) + 10;
        let _ = writeln!(
            body,
            r##"<rect x="{x}" y="{header_top}" width="{}" height="{header_h}" rx="4" fill="#37474f"/>"##,
            LANE_W - 20
        );
        let _ = writeln!(
            body,
            r#"<text x="{}" y="{}" text-anchor="middle" fill="white" font-weight="bold" font-size="13">{}</text>"#,
            lane_x(i) + LANE_W / 2,
            header_top + 17,
            escape(&a.name())
        );
    }
    let _ = writeln!(
        body,
        r##"<text x="{changes_x}" y="{}" font-weight="bold" font-size="13" fill="#37474f">state after the step (what changed)</text>"##,
        header_top + 17
    );
    let _ = writeln!(
        body,
        r##"<text x="{}" y="{}" text-anchor="end" font-weight="bold" font-size="13" fill="#37474f">#</text>"##,
        MARGIN + NUM_W - 6,
        header_top + 17
    );
    y = header_top + header_h + 10;

    // Rows.
    let mut rows: Vec<Row> = Vec::new();
    if let Some((init, _)) = path.first() {
        let mut ch = vec!["initial state:".to_string()];
        ch.extend(
            (0..m.cfg().pages as usize).map(|i| format!("page{i}: {}", page_summary(m, init, i))),
        );
        rows.push(Row {
            number: 0,
            lane: None,
            changes: ch,
            y: 0,
            h: 0,
        });
    }
    for (k, w) in path.windows(2).enumerate() {
        let (prev, Some(action)) = (&w[0].0, w[0].1) else {
            continue;
        };
        let next = &w[1].0;
        let lane = actors
            .iter()
            .position(|&a| a == action.actor())
            .unwrap_or(0);
        let start = matches!(action, Action::Start(_));
        let label = step_label(m, prev, action);
        let label = if start {
            format!("start: {label}")
        } else {
            label
        };
        let ch = changes(m, prev, next);
        rows.push(Row {
            number: k + 1,
            lane: Some((lane, wrap(&label, lane_chars), start)),
            changes: ch,
            y: 0,
            h: 0,
        });
    }
    let last = rows.len().saturating_sub(1);
    let marker_lines: Vec<String> = opts
        .marker
        .as_deref()
        .map(|mk| wrap(mk, change_chars))
        .unwrap_or_default();
    for (i, r) in rows.iter_mut().enumerate() {
        let box_lines = r.lane.as_ref().map_or(0, |(_, l, _)| l.len());
        let mut ch_lines: usize = r.changes.iter().map(|c| wrap(c, change_chars).len()).sum();
        if i == last {
            ch_lines += marker_lines.len();
        }
        let lines = box_lines.max(ch_lines).max(1);
        r.y = y;
        r.h = lines * LINE + 2 * BOX_PAD;
        y += r.h + ROW_GAP;
    }
    let rows_bottom = y;

    // Lifelines, then row stripes, then boxes and text.
    let mut back = String::new();
    for (i, r) in rows.iter().enumerate() {
        if i % 2 == 1 {
            let _ = writeln!(
                back,
                r##"<rect x="{MARGIN}" y="{}" width="{}" height="{}" fill="#f4f6f8"/>"##,
                r.y - ROW_GAP / 2,
                changes_x + CHANGES_W - MARGIN,
                r.h + ROW_GAP
            );
        }
    }
    for i in 0..actors.len() {
        let x = lane_x(i) + LANE_W / 2;
        let _ = writeln!(
            back,
            r##"<line x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#90a4ae" stroke-dasharray="4 4"/>"##,
            header_top + header_h,
            rows_bottom
        );
    }
    if let Some(l) = opts.loop_start {
        // Shade the loop's rows.
        if let Some(first) = rows.iter().find(|r| r.number == l + 1) {
            let _ = writeln!(
                back,
                r##"<rect x="{MARGIN}" y="{}" width="{}" height="{}" fill="#fff3e0" fill-opacity="0.6"/>"##,
                first.y - ROW_GAP / 2,
                changes_x + CHANGES_W - MARGIN,
                rows_bottom - first.y
            );
        }
    }

    for (i, r) in rows.iter().enumerate() {
        let violated = i == last && opts.marker.is_some();
        let mid_y = r.y + BOX_PAD + LINE - 3;
        let _ = writeln!(
            body,
            r##"<text x="{}" y="{mid_y}" text-anchor="end" fill="#546e7a">{}</text>"##,
            MARGIN + NUM_W - 6,
            r.number
        );
        if let Some((lane, lines, start)) = &r.lane {
            let x = lane_x(*lane) + 4;
            let (fill, stroke, sw) = if violated {
                ("#ffebee", "#c62828", 2.5)
            } else if *start {
                ("#e3f2fd", "#1565c0", 1.0)
            } else {
                ("#ffffff", "#37474f", 1.0)
            };
            let _ = writeln!(
                body,
                r#"<rect x="{x}" y="{}" width="{}" height="{}" rx="5" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"/>"#,
                r.y,
                LANE_W - 8,
                lines.len() * LINE + 2 * BOX_PAD
            );
            for (j, l) in lines.iter().enumerate() {
                let _ = writeln!(
                    body,
                    r#"<text x="{}" y="{}">{}</text>"#,
                    x + BOX_PAD + 2,
                    r.y + BOX_PAD + LINE * (j + 1) - 3,
                    escape(l)
                );
            }
        }
        let mut ly = r.y + BOX_PAD;
        for c in &r.changes {
            for (j, l) in wrap(c, change_chars).iter().enumerate() {
                ly += LINE;
                let x = changes_x + if j > 0 { 16 } else { 0 };
                let _ = writeln!(
                    body,
                    r##"<text x="{x}" y="{}" fill="#1b5e20">{}</text>"##,
                    ly - 3,
                    escape(l)
                );
            }
        }
        if r.changes.is_empty() && r.lane.is_some() && !violated {
            let _ = writeln!(
                body,
                r##"<text x="{changes_x}" y="{}" fill="#9e9e9e">(no visible change)</text>"##,
                r.y + BOX_PAD + LINE - 3
            );
        }
        if violated {
            for l in &marker_lines {
                ly += LINE;
                let _ = writeln!(
                    body,
                    r##"<text x="{changes_x}" y="{}" fill="#c62828" font-weight="bold">{}</text>"##,
                    ly - 3,
                    escape(l)
                );
            }
        }
    }

    // The loop bracket.
    if let Some(l) = opts.loop_start {
        let bx = changes_x + CHANGES_W + 10;
        let tx = bx + 16;
        match rows.iter().find(|r| r.number == l + 1) {
            Some(first) => {
                let (top, bottom) = (first.y, rows_bottom - ROW_GAP);
                let _ = writeln!(
                    body,
                    r##"<path d="M {} {top} H {bx} V {bottom} H {}" fill="none" stroke="#e65100" stroke-width="2.5"/>"##,
                    bx - 8,
                    bx - 8
                );
                let _ = writeln!(
                    body,
                    r##"<path d="M {} {} L {} {top} L {} {}" fill="none" stroke="#e65100" stroke-width="2.5"/>"##,
                    bx - 1,
                    top - 6,
                    bx - 8,
                    bx - 1,
                    top + 6
                );
                let mid = (top + bottom) / 2;
                for (j, t) in [
                    "repeats".to_string(),
                    "forever".to_string(),
                    format!("(back to state {l})"),
                ]
                .iter()
                .enumerate()
                {
                    let _ = writeln!(
                        body,
                        r##"<text x="{tx}" y="{}" fill="#e65100" font-weight="bold">{}</text>"##,
                        mid - LINE + j * LINE,
                        escape(t)
                    );
                }
            }
            None => {
                // Stuttering: the last state repeats forever.
                if let Some(r) = rows.last() {
                    for (j, t) in ["stays here", "forever"].iter().enumerate() {
                        let _ = writeln!(
                            body,
                            r##"<text x="{tx}" y="{}" fill="#e65100" font-weight="bold">{t}</text>"##,
                            r.y + BOX_PAD + LINE * (j + 1) - 3
                        );
                    }
                }
            }
        }
    }

    // Notes and legend.
    y = rows_bottom + 8;
    let note_chars = chars_fitting(width - 2 * MARGIN);
    if !opts.notes.is_empty() {
        y += LINE;
        let _ = writeln!(
            body,
            r##"<text x="{MARGIN}" y="{y}" font-weight="bold" fill="#e65100">fairness (why this loop is a fair behaviour):</text>"##
        );
        for n in &opts.notes {
            for (j, l) in wrap(n, note_chars - 2).iter().enumerate() {
                y += LINE;
                let _ = writeln!(
                    body,
                    r#"<text x="{}" y="{y}">{}</text>"#,
                    MARGIN + if j == 0 { 8 } else { 24 },
                    escape(l)
                );
            }
        }
        y += 6;
    }
    let legend = "Each box is one atomic kernel step of the actor whose lane it is in (blue: the actor starts a new operation). \
        Right column, per page: S/P shared/private attribute; fN:rcK folio N with _refcount K (* frozen; FOLL_PIN adds 1024 to a small folio); \
        pteB bitmask of host processes mapping it; s2:S/P(fN) stage-2 entry; GETxN/PINxN/LONGTERMxN completed GUP references.";
    for l in wrap(legend, note_chars) {
        y += LINE;
        let _ = writeln!(
            body,
            r##"<text x="{MARGIN}" y="{y}" fill="#616161" font-size="11">{}</text>"##,
            escape(&l)
        );
    }
    let height = y + MARGIN;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT}">"#
    );
    let _ = writeln!(
        out,
        r#"<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>"#
    );
    out.push_str(&back);
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

/// Names of the safety properties violated in `st` (for the explorer's marker).
pub fn violated_safety(m: &GmemModel, st: &State) -> Vec<&'static str> {
    crate::properties::safety(m.cfg())
        .into_iter()
        .filter(|&id| !crate::properties::eval(m, st, id))
        .map(|id| id.name())
        .collect()
}

/// When `path` ends in a state it passed before (the explorer path of a
/// lasso, as `check` prints it): the index of that state and the liveness
/// properties pending on every state of the loop.
pub fn lasso_of(
    m: &GmemModel,
    path: &[(State, Option<Action>)],
) -> Option<(usize, Vec<&'static str>)> {
    let (last, _) = path.last()?;
    let l = path[..path.len() - 1].iter().position(|(s, _)| s == last)?;
    let pending = crate::properties::liveness(m.cfg())
        .into_iter()
        .filter(|&id| {
            path[l..]
                .iter()
                .all(|(s, _)| crate::properties::eval(m, s, id))
        })
        .map(|id| id.name())
        .collect();
    Some((l, pending))
}

/// The explorer's picture of `path`: the violated safety properties of the
/// last state (if any) marked; a path that returns to an earlier state is
/// drawn as a lasso, with the liveness properties pending all along its loop.
pub fn explorer(m: &GmemModel, path: &[(State, Option<Action>)]) -> String {
    let bad = path
        .last()
        .map(|(s, _)| violated_safety(m, s))
        .unwrap_or_default();
    let lasso = lasso_of(m, path);
    let marker = match &lasso {
        _ if !bad.is_empty() => Some(format!("VIOLATES {}", bad.join(", "))),
        Some((l, pending)) if !pending.is_empty() => Some(format!(
            "back to state {l}; pending on the whole loop: {} (`check` says whether the loop is fair)",
            pending.join(", ")
        )),
        Some((l, _)) => Some(format!("back to state {l}")),
        None => None,
    };
    let opts = Options {
        loop_start: lasso.map(|(l, _)| l),
        title: Some(format!(
            "{} ({} page{}): {} steps",
            m.cfg().label(),
            m.cfg().pages,
            if m.cfg().pages == 1 { "" } else { "s" },
            path.len().saturating_sub(1)
        )),
        marker,
        ..Options::default()
    };
    render(m, path, &opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GmemModel;
    use stateright::Model;

    #[test]
    fn escape_and_wrap() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(wrap("abc def ghi", 7), vec!["abc def", "ghi"]);
        assert_eq!(wrap("", 7), vec![""]);
        for l in wrap("ioctl(SET_MEMORY_ATTRIBUTES2, 0..1 -> Private)", 12) {
            assert!(l.chars().count() <= 12, "{l}");
        }
    }

    #[test]
    fn renders_a_path_deterministically() {
        let m = GmemModel::new(
            crate::gate::parse(
                include_str!("../../configs/inplace+gup_fast_no_recheck.json"),
                "configs/inplace+gup_fast_no_recheck.json",
            )
            .unwrap()
            .cfg,
        )
        .unwrap();
        let mut path = vec![];
        let mut s = m.init_states().remove(0);
        for _ in 0..6 {
            let mut acts = vec![];
            m.actions(&s, &mut acts);
            let a = acts[0];
            let n = m.next_state(&s, a).unwrap();
            path.push((s, Some(a)));
            s = n;
        }
        path.push((s, None));
        let opts = Options {
            title: Some("t <&>".into()),
            marker: Some("VIOLATES x".into()),
            loop_start: Some(3),
            notes: vec!["WF(converter): taken".into()],
            ..Options::default()
        };
        let a = render(&m, &path, &opts);
        assert_eq!(a, render(&m, &path, &opts));
        assert!(a.starts_with("<svg") && a.ends_with("</svg>\n"));
        assert!(a.contains("t &lt;&amp;&gt;"));
        assert!(a.contains("repeats"));
        assert!(a.contains("VIOLATES x"));
        assert!(explorer(&m, &path).contains("converter"));
    }
}
