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

fn band_color(mode: Mode) -> Option<RGBAColor> {
    match mode {
        Mode::Stable => None,
        Mode::Exploring => Some(RGBColor(255, 200, 80).mix(0.25)),
        Mode::Recovering => Some(RGBColor(120, 180, 255).mix(0.25)),
        Mode::Emergency => Some(RGBColor(255, 60, 60).mix(0.35)),
    }
}

/// A legend entry: a line or a filled band, and its label.
enum Key {
    Line(RGBColor, String),
    Band(RGBAColor, String),
}

/// The legend, in its own strip beside the plot: it never covers data.
fn draw_legend(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    keys: &[Key],
) -> Result<()> {
    let style = ("sans-serif", 14).into_font().color(&BLACK);
    for (i, key) in keys.iter().enumerate() {
        let y = 70 + 24 * i32::try_from(i).unwrap_or(0);
        let label = match key {
            Key::Line(color, label) => {
                area.draw(&PathElement::new(
                    vec![(8, y), (32, y)],
                    color.stroke_width(3),
                ))
                .map_err(plot_err)?;
                label
            }
            Key::Band(color, label) => {
                area.draw(&Rectangle::new([(8, y - 7), (32, y + 7)], color.filled()))
                    .map_err(plot_err)?;
                label
            }
        };
        area.draw(&Text::new(label.clone(), (40, y - 8), style.clone()))
            .map_err(plot_err)?;
    }
    Ok(())
}

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("cannot draw the plot: {e}")
}

/// One pixel column of a long run: the range of each series and the mode that held most.
struct Column {
    first: u64,
    last: u64,
    low: [f64; 3],
    high: [f64; 3],
    mean: [f64; 3],
    mode: Mode,
}

/// Folds the trace into at most `width` columns, so that a run of any length stays readable:
/// each series is drawn as its min–max envelope with its mean, each band in the mode that held
/// most of the column's steps.
fn columns(trace: &[TracePoint], width: usize) -> Vec<Column> {
    let per = trace.len().div_ceil(width.max(1)).max(1);
    trace
        .chunks(per)
        .map(|chunk| {
            let mut low = [f64::INFINITY; 3];
            let mut high = [f64::NEG_INFINITY; 3];
            let mut sum = [0.0; 3];
            let mut modes = [0usize; 4];
            for p in chunk {
                for (i, v) in [p.novelty, p.aesthetic_score, p.entropy_factor]
                    .into_iter()
                    .enumerate()
                {
                    low[i] = low[i].min(v);
                    high[i] = high[i].max(v);
                    sum[i] += v;
                }
                modes[p.mode as usize] += 1;
            }
            let n = chunk.len() as f64;
            let mode = Mode::ALL
                .iter()
                .copied()
                .max_by_key(|m| modes[*m as usize])
                .unwrap_or(Mode::Stable);
            Column {
                first: chunk.first().map_or(0, |p| p.step),
                last: chunk.last().map_or(0, |p| p.step),
                low,
                high,
                mean: sum.map(|s| s / n),
                mode,
            }
        })
        .collect()
}

/// A timeline of novelty, aesthetic score and entropy factor over mode bands.
pub fn timeline(trace: &[TracePoint], steps: u64, seed: u64) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (plot_area, legend_area) = root.split_horizontally(1010);
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(
                format!("creative-feedback simulation: {steps} steps, host seed {seed}"),
                ("sans-serif", 20),
            )
            .margin(12)
            .margin_right(40)
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

        let cols = columns(trace, 900);
        // Mode bands: one rectangle per run of columns in the same mode.
        let mut start = 0;
        for (i, col) in cols.iter().enumerate() {
            if cols.get(i + 1).is_some_and(|n| n.mode == col.mode) {
                continue;
            }
            if let Some(color) = band_color(col.mode) {
                let (from, to) = (
                    cols[start].first,
                    cols.get(i + 1).map_or(steps, |n| n.first),
                );
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(from, 0.0), (to.max(col.last), 1.0)],
                        color.filled(),
                    )))
                    .map_err(plot_err)?;
            }
            start = i + 1;
        }
        let series = [
            ("novelty", NOVELTY),
            ("aesthetic score", AESTHETIC),
            ("entropy factor", ENTROPY),
        ];
        for (i, (_, color)) in series.iter().enumerate() {
            // The envelope: highs left to right, then lows right to left.
            let outline: Vec<(u64, f64)> = cols
                .iter()
                .map(|c| (c.first, c.high[i]))
                .chain(cols.iter().rev().map(|c| (c.first, c.low[i])))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    color.mix(0.25).filled(),
                )))
                .map_err(plot_err)?;
            chart
                .draw_series(LineSeries::new(
                    cols.iter().map(|c| (c.first, c.mean[i])),
                    color.stroke_width(1),
                ))
                .map_err(plot_err)?;
        }
        let mut keys: Vec<Key> = series
            .iter()
            .map(|(label, color)| Key::Line(*color, (*label).to_owned()))
            .collect();
        for (mode, label) in [
            (Mode::Exploring, "exploring"),
            (Mode::Recovering, "recovering"),
            (Mode::Emergency, "emergency"),
        ] {
            if let Some(color) = band_color(mode) {
                keys.push(Key::Band(color, format!("mode: {label}")));
            }
        }
        keys.push(Key::Band(
            RGBColor(120, 120, 120).mix(0.25),
            "shade: min–max".to_owned(),
        ));
        draw_legend(&legend_area, &keys)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// Every profile's factor over an exploration's progress, for base factor `base`.
pub fn profiles(curves: &[(String, Vec<(f64, f64)>)], base: f64) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (plot_area, legend_area) = root.split_horizontally(820);
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(
                format!("entropy profiles (base factor {base})"),
                ("sans-serif", 20),
            )
            .margin(12)
            .margin_right(30)
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
        let mut keys = Vec::new();
        for (i, (name, points)) in curves.iter().enumerate() {
            let color = SHAPES[i % SHAPES.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?;
            keys.push(Key::Line(color, name.clone()));
        }
        draw_legend(&legend_area, &keys)?;
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}
