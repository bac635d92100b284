//! Training curves from a run's `metrics.jsonl` as a PNG: four panels in a 2×2 grid
//! (`loss` top left, `eval_loss` top right, `learning_rate` bottom left, `grad_norm`
//! bottom right), each scaled to its own data, with a title and labelled axes.
//!
//! Text is drawn with plotters' `ab_glyph` renderer and the Hack font that the
//! `epaint_default_fonts` crate ships as bytes, so no system font library is needed.

use crate::error::{Result, SftError};
use crate::train::StepMetrics;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// The metrics plotted, in panel order (row-major).
pub const PANELS: [&str; 4] = ["loss", "eval_loss", "learning_rate", "grad_norm"];

/// The colour of each panel's curve, in [`PANELS`] order.
pub const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// One metric over the steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The metric's name (one of [`PANELS`]).
    pub name: &'static str,
    /// `(step, value)` pairs, finite values only, in step order.
    pub points: Vec<(f64, f64)>,
}

impl Curve {
    /// `((x_min, x_max), (y_min, y_max))` of the points, or `None` without points.
    pub fn ranges(&self) -> Option<((f64, f64), (f64, f64))> {
        let first = self.points.first()?;
        let mut r = ((first.0, first.0), (first.1, first.1));
        for &(x, y) in &self.points {
            r.0 = (r.0.0.min(x), r.0.1.max(x));
            r.1 = (r.1.0.min(y), r.1.1.max(y));
        }
        Some(r)
    }
}

/// Reads `metrics.jsonl`; a line that is not a metrics record is an error naming it.
pub fn read_metrics(path: &Path) -> Result<Vec<StepMetrics>> {
    let text = std::fs::read_to_string(path).map_err(|source| SftError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let m = serde_json::from_str(line).map_err(|e| SftError::Config {
            path: path.to_path_buf(),
            message: format!("line {}: {e}", i + 1),
        })?;
        out.push(m);
    }
    Ok(out)
}

/// The four curves of [`PANELS`] (non-finite values dropped).
pub fn curves(metrics: &[StepMetrics]) -> Vec<Curve> {
    let pick: [fn(&StepMetrics) -> Option<f64>; 4] = [
        |m| Some(m.loss),
        |m| m.eval_loss,
        |m| Some(m.learning_rate),
        |m| Some(m.grad_norm),
    ];
    PANELS
        .iter()
        .zip(pick)
        .map(|(&name, f)| Curve {
            name,
            points: metrics
                .iter()
                .filter_map(|m| f(m).map(|v| (m.step as f64, v)))
                .filter(|(_, v)| v.is_finite())
                .collect(),
        })
        .collect()
}

pub(crate) fn plot_err(e: impl std::fmt::Display) -> SftError {
    SftError::Plot(e.to_string())
}

/// Widens an empty or zero-width range so it can be drawn.
fn padded((lo, hi): (f64, f64)) -> (f64, f64) {
    if hi > lo {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    } else {
        let pad = lo.abs().max(1.0) * 0.5;
        (lo - pad, hi + pad)
    }
}

/// Draws `curves` (at most four, in [`PANELS`] order) into an RGB buffer of
/// `width × height` pixels (3 bytes per pixel, row-major).
pub fn render_rgb(curves: &[Curve], width: u32, height: u32) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        draw(&root, curves)?;
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}

/// The font family name the plots use, registered once from bundled bytes.
pub(crate) const FAMILY: &str = "sans-serif";

pub(crate) fn register_font() -> Result<()> {
    static DONE: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(
            FAMILY,
            FontStyle::Normal,
            epaint_default_fonts::HACK_REGULAR,
        )
        .map_err(|_| "the bundled font does not parse".to_string())
    })
    .clone()
    .map_err(SftError::Plot)
}

/// A tick label: scientific for small magnitudes (learning rates), else 3 decimals.
fn tick(v: &f64) -> String {
    if *v != 0.0 && v.abs() < 1e-2 {
        format!("{v:.1e}")
    } else {
        format!("{v:.3}")
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    curves: &[Curve],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    register_font()?;
    root.fill(&WHITE).map_err(plot_err)?;
    let grey = RGBColor(225, 225, 225);
    for (area, (i, curve)) in root
        .split_evenly((2, 2))
        .iter()
        .zip(curves.iter().enumerate())
    {
        let ((x0, x1), (y0, y1)) = match curve.ranges() {
            Some((x, y)) => (padded(x), padded(y)),
            None => ((0.0, 1.0), (0.0, 1.0)),
        };
        let title = if curve.points.is_empty() {
            format!("{} (not logged)", curve.name)
        } else {
            curve.name.to_string()
        };
        let mut chart = ChartBuilder::on(area)
            .margin(12)
            .caption(title, (FAMILY, 20))
            .x_label_area_size(36)
            .y_label_area_size(72)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .light_line_style(grey)
            .bold_line_style(grey)
            .x_labels(6)
            .y_labels(5)
            .x_desc("step")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&tick)
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 14))
            .draw()
            .map_err(plot_err)?;
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(
                curve.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(plot_err)?;
        chart
            .draw_series(
                curve
                    .points
                    .iter()
                    .map(|&p| Circle::new(p, 2, color.filled())),
            )
            .map_err(plot_err)?;
    }
    Ok(())
}

/// What [`plot_run`] drew.
#[derive(Debug, Clone)]
pub struct PlotReport {
    /// The PNG written.
    pub png: PathBuf,
    /// The curves, in panel order (their [`Curve::ranges`] are the axes).
    pub curves: Vec<Curve>,
}

/// Renders `RUN_DIR/metrics.jsonl` to `RUN_DIR/metrics.png` (1200×800).
pub fn plot_run(run_dir: &Path) -> Result<PlotReport> {
    let metrics = read_metrics(&run_dir.join("metrics.jsonl"))?;
    if metrics.is_empty() {
        return Err(SftError::InvalidArgument(format!(
            "{}: no metrics to plot",
            run_dir.join("metrics.jsonl").display()
        )));
    }
    let curves = curves(&metrics);
    let png = run_dir.join("metrics.png");
    {
        let root = BitMapBackend::new(&png, (1200, 800)).into_drawing_area();
        draw(&root, &curves)?;
        root.present().map_err(plot_err)?;
    }
    Ok(PlotReport { png, curves })
}
