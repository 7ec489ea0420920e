//! SVG plots: a simulation timeline and profile shapes.

use anyhow::{anyhow, Result};
use creative_feedback::sim::TracePoint;
use creative_feedback::Mode;
use plotters::prelude::*;

const NOVELTY: RGBColor = RGBColor(31, 119, 180);
const AESTHETIC: RGBColor = RGBColor(44, 160, 44);
const ENTROPY: RGBColor = RGBColor(214, 39, 40);
const SHAPES: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A line of the timeline: its label, colour and value.
type Series = (&'static str, RGBColor, fn(&TracePoint) -> f64);

fn band_color(mode: Mode) -> Option<RGBAColor> {
    match mode {
        Mode::Stable => None,
        Mode::Exploring => Some(RGBColor(255, 200, 80).mix(0.25)),
        Mode::Recovering => Some(RGBColor(120, 180, 255).mix(0.25)),
        Mode::Emergency => Some(RGBColor(255, 60, 60).mix(0.35)),
    }
}

/// The legend box both plots share, in the upper right corner.
fn draw_legend<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
) -> Result<()>
where
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)
}

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("cannot draw the plot: {e}")
}

/// A timeline of novelty, aesthetic score and entropy factor over mode bands.
pub fn timeline(trace: &[TracePoint], steps: u64, seed: u64) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("creative-feedback simulation: {steps} steps, host seed {seed}"),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0u64..steps.max(1), 0f64..1f64)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("value")
            .light_line_style(WHITE)
            .draw()
            .map_err(plot_err)?;

        // Mode bands: one rectangle per run of equal modes.
        let mut start = 0u64;
        for (i, point) in trace.iter().enumerate() {
            let next = trace.get(i + 1);
            if next.is_some_and(|n| n.mode == point.mode) {
                continue;
            }
            if let Some(color) = band_color(point.mode) {
                let end = next.map_or(steps, |n| n.step);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(start, 0.0), (end, 1.0)],
                        color.filled(),
                    )))
                    .map_err(plot_err)?;
            }
            start = next.map_or(steps, |n| n.step);
        }
        // Legend entries for the bands.
        for (mode, label) in [
            (Mode::Exploring, "exploring"),
            (Mode::Recovering, "recovering"),
            (Mode::Emergency, "emergency"),
        ] {
            if let Some(color) = band_color(mode) {
                chart
                    .draw_series(std::iter::empty::<Rectangle<(u64, f64)>>())
                    .map_err(plot_err)?
                    .label(format!("mode: {label}"))
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 6), (x + 16, y + 6)], color.filled())
                    });
            }
        }
        let series: [Series; 3] = [
            ("novelty", NOVELTY, |p| p.novelty),
            ("aesthetic score", AESTHETIC, |p| p.aesthetic_score),
            ("entropy factor", ENTROPY, |p| p.entropy_factor),
        ];
        for (label, color, value) in series {
            chart
                .draw_series(LineSeries::new(
                    trace.iter().map(|p| (p.step, value(p))),
                    color.stroke_width(1),
                ))
                .map_err(plot_err)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut chart)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Every profile's factor over an exploration's progress, for base factor `base`.
pub fn profiles(curves: &[(String, Vec<(f64, f64)>)], base: f64) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("entropy profiles (base factor {base})"),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..1f64, 0f64..1f64)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("progress k / duration")
            .y_desc("entropy factor")
            .draw()
            .map_err(plot_err)?;
        for (i, (name, points)) in curves.iter().enumerate() {
            let color = SHAPES[i % SHAPES.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut chart)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}
