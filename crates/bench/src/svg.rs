//! Line plots as standalone SVG text: enough for a latency CDF and a submissions timeline, with no
//! plotting dependency.

use std::fmt::Write;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 220.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// More points than this per series only make the file bigger, not the picture finer.
const MAX_POINTS: usize = 800;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    Linear,
    /// Base 10; values at or below zero are left out.
    Log,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (the other operator's series).
    pub dashed: bool,
}

#[derive(Debug, Clone)]
pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_scale: Scale,
    pub series: Vec<Series>,
}

/// Maps data values on one axis to pixels.
#[derive(Debug, Clone, Copy)]
struct Axis {
    scale: Scale,
    low: f64,
    high: f64,
    from_px: f64,
    to_px: f64,
}

impl Axis {
    fn new(scale: Scale, values: impl Iterator<Item = f64>, from_px: f64, to_px: f64) -> Axis {
        let (mut low, mut high) = values
            .filter(|v| v.is_finite() && (scale == Scale::Linear || *v > 0.0))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            });
        if !low.is_finite() {
            (low, high) = (1.0, 10.0);
        }
        match scale {
            Scale::Linear => {
                low = low.min(0.0);
                if high <= low {
                    high = low + 1.0;
                }
                let step = nice_step((high - low) / 5.0);
                high = low + step * ((high - low) / step).ceil();
            }
            Scale::Log => {
                low = 10f64.powf(low.log10().floor());
                high = 10f64.powf(high.log10().ceil());
                if high <= low {
                    high = low * 10.0;
                }
            }
        }
        Axis {
            scale,
            low,
            high,
            from_px,
            to_px,
        }
    }

    fn px(&self, value: f64) -> f64 {
        let fraction = match self.scale {
            Scale::Linear => (value - self.low) / (self.high - self.low),
            Scale::Log => {
                (value.log10() - self.low.log10()) / (self.high.log10() - self.low.log10())
            }
        };
        self.from_px + fraction * (self.to_px - self.from_px)
    }

    fn ticks(&self) -> Vec<f64> {
        match self.scale {
            Scale::Linear => {
                let step = nice_step((self.high - self.low) / 5.0);
                let count = ((self.high - self.low) / step).round() as usize;
                (0..=count).map(|i| self.low + step * i as f64).collect()
            }
            Scale::Log => {
                let first = self.low.log10().round() as i32;
                let last = self.high.log10().round() as i32;
                (first..=last).map(|e| 10f64.powi(e)).collect()
            }
        }
    }

    fn contains(&self, value: f64) -> bool {
        value.is_finite() && (self.scale == Scale::Linear || value > 0.0)
    }
}

/// The step of 1, 2 or 5 times a power of ten nearest above `rough`.
pub fn nice_step(rough: f64) -> f64 {
    if !(rough.is_finite() && rough > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(rough.log10().floor());
    let mantissa = rough / power;
    let nice = if mantissa <= 1.0 {
        1.0
    } else if mantissa <= 2.0 {
        2.0
    } else if mantissa <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// A tick label without trailing zeros: 0.5, 2, 1000, 1e-3 stays readable.
pub fn tick_label(value: f64) -> String {
    if value != 0.0 && (value.abs() < 0.01 || value.abs() >= 1e7) {
        return format!("{value:e}");
    }
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Every `k`-th point and the last, so at most about [`MAX_POINTS`] remain.
fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let step = points.len().div_ceil(MAX_POINTS).max(1);
    let mut kept: Vec<(f64, f64)> = points.iter().copied().step_by(step).collect();
    if let Some(last) = points.last()
        && kept.last() != Some(last)
    {
        kept.push(*last);
    }
    kept
}

pub fn render(plot: &Plot) -> String {
    let all = || plot.series.iter().flat_map(|s| s.points.iter());
    let x = Axis::new(plot.x_scale, all().map(|p| p.0), LEFT, WIDTH - RIGHT);
    let y = Axis::new(Scale::Linear, all().map(|p| p.1), HEIGHT - BOTTOM, TOP);
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        escape(&plot.title)
    );
    for tick in x.ticks() {
        let px = x.px(tick);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{}" stroke="#ddd"/><text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"##,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 16.0,
            tick_label(tick)
        );
    }
    for tick in y.ticks() {
        let py = y.px(tick);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            tick_label(tick)
        );
    }
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
        WIDTH - RIGHT - LEFT,
        HEIGHT - BOTTOM - TOP
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 12.0,
        escape(&plot.x_label)
    );
    let _ = writeln!(
        out,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>"#,
        (TOP + HEIGHT - BOTTOM) / 2.0,
        (TOP + HEIGHT - BOTTOM) / 2.0,
        escape(&plot.y_label)
    );
    for (i, series) in plot.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let dash = if series.dashed {
            r#" stroke-dasharray="6 3""#
        } else {
            ""
        };
        let points: Vec<String> = thin(&series.points)
            .into_iter()
            .filter(|(px, py)| x.contains(*px) && y.contains(*py))
            .map(|(px, py)| format!("{:.1},{:.1}", x.px(px), y.px(py)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8"{dash} points="{}"/>"#,
            points.join(" ")
        );
        let legend_y = TOP + 14.0 + 18.0 * i as f64;
        let legend_x = WIDTH - RIGHT + 12.0;
        let _ = writeln!(
            out,
            r#"<line x1="{legend_x}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="{colour}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            legend_x + 22.0,
            legend_x + 28.0,
            legend_y + 4.0,
            escape(&series.name)
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(36.0), 50.0);
        assert_eq!(nice_step(600.0), 1000.0);
        assert_eq!(nice_step(0.0), 1.0);
    }

    #[test]
    fn tick_labels_drop_trailing_zeros() {
        assert_eq!(tick_label(1000.0), "1000");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(0.5), "0.5");
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(0.001), "1e-3");
    }

    #[test]
    fn a_log_axis_spans_whole_decades_and_maps_them_evenly() {
        let axis = Axis::new(Scale::Log, [3.0, 450.0, -2.0].into_iter(), 0.0, 300.0);
        assert_eq!((axis.low, axis.high), (1.0, 1000.0));
        assert_eq!(axis.ticks(), vec![1.0, 10.0, 100.0, 1000.0]);
        assert!((axis.px(10.0) - 100.0).abs() < 1e-9);
        assert!(!axis.contains(0.0));
    }

    #[test]
    fn a_linear_axis_starts_at_zero_and_ends_on_a_tick() {
        let axis = Axis::new(Scale::Linear, [12.0, 87.0].into_iter(), 100.0, 0.0);
        assert_eq!((axis.low, axis.high), (0.0, 100.0));
        assert_eq!(axis.ticks(), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert!((axis.px(25.0) - 75.0).abs() < 1e-9);
    }

    #[test]
    fn thinning_keeps_the_first_and_last_points() {
        let points: Vec<(f64, f64)> = (0..2000).map(|i| (f64::from(i), 1.0)).collect();
        let kept = thin(&points);
        assert!(kept.len() <= MAX_POINTS + 1);
        assert_eq!(kept.first(), Some(&(0.0, 1.0)));
        assert_eq!(kept.last(), Some(&(1999.0, 1.0)));
    }

    #[test]
    fn a_plot_draws_one_line_and_one_escaped_legend_entry_per_series() {
        let plot = Plot {
            title: "latency <p99>".into(),
            x_label: "ms".into(),
            y_label: "fraction".into(),
            x_scale: Scale::Log,
            series: vec![
                Series {
                    name: "a & b".into(),
                    points: vec![(1.0, 0.5), (10.0, 1.0)],
                    dashed: false,
                },
                Series {
                    name: "kubeflow".into(),
                    points: vec![(100.0, 1.0)],
                    dashed: true,
                },
            ],
        };
        let svg = render(&plot);
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("a &amp; b"));
        assert!(svg.contains("latency &lt;p99&gt;"));
        assert_eq!(svg.matches("stroke-dasharray").count(), 2);
    }
}
