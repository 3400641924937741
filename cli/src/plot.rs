//! `cport bench --plot FILE.svg`: the latency distributions side by side, as
//! percentile curves (x: percentile on a "nines" scale, y: latency).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::bench::Row;

const W: f64 = 900.0;
const H: f64 = 520.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 200.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// The x axis runs from p0 to p99.99 (4 nines).
const NINES: f64 = 4.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `shape` is (connections, depth, message size) of the one workload drawn.
pub fn write(path: &Path, shape: (usize, usize, usize), rows: &[Row]) -> Result<()> {
    let (conns, depth, size) = shape;
    let series: Vec<(&str, Vec<(f64, f64)>)> = rows
        .iter()
        .filter_map(|r| {
            let h = r.latency.as_ref().filter(|h| !h.is_empty())?;
            let points = (0..=200)
                .map(|k| {
                    let x = NINES * k as f64 / 200.0;
                    let q = 1.0 - 10f64.powf(-x);
                    (x, h.value_at_quantile(q) as f64 / 1000.0)
                })
                .collect();
            Some((r.label, points))
        })
        .collect();
    let ymax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
        .fold(1.0f64, f64::max);
    // A round top for the y axis.
    let step = {
        let raw = ymax / 5.0;
        let mag = 10f64.powf(raw.log10().floor());
        [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * mag)
            .find(|s| *s >= raw)
            .unwrap_or(raw)
    };
    let ytop = (ymax / step).ceil() * step;
    let px = |x: f64| LEFT + x / NINES * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - y / ytop * (H - TOP - BOTTOM);

    let mut svg = String::new();
    writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    )?;
    writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#)?;
    writeln!(
        svg,
        r#"<text x="{}" y="22" font-size="15">echo latency: {} conns x depth {}, {} B messages</text>"#,
        LEFT, conns, depth, size
    )?;
    let mut t = 0.0;
    while t <= ytop + step / 2.0 {
        let y = py(t);
        writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            if t == 0.0 {
                "0".to_string()
            } else {
                crate::util::fmt_us(t)
            }
        )?;
        t += step;
    }
    for (n, label) in ["p0", "p90", "p99", "p99.9", "p99.99"].iter().enumerate() {
        let x = px(n as f64);
        writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            H - BOTTOM,
            H - BOTTOM + 18.0
        )?;
    }
    writeln!(
        svg,
        r#"<text x="16" y="{:.1}" transform="rotate(-90 16 {:.1})" text-anchor="middle">latency (µs)</text>"#,
        H / 2.0,
        H / 2.0
    )?;
    writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 10.0
    )?;
    for (i, (label, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        writeln!(
            svg,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        )?;
        let ly = TOP + 20.0 + 22.0 * i as f64;
        writeln!(
            svg,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            W - RIGHT + 15.0,
            W - RIGHT + 40.0,
            W - RIGHT + 46.0,
            ly + 4.0,
            esc(label)
        )?;
    }
    writeln!(svg, "</svg>")?;
    std::fs::write(path, svg)?;
    Ok(())
}
