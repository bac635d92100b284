//! Bar charts as PNG (pass rates per model, per feedback turn): one bar per label,
//! its value printed above it, on a fixed `0..=y_max` axis so charts of different
//! runs compare at a glance. Same font and backend as [`crate::plot`].

use crate::error::{Result, SftError};
use crate::plot::{COLORS, FAMILY, plot_err, register_font};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// What one bar chart shows.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// Title drawn above the plot.
    pub title: String,
    /// Label of the value axis.
    pub y_label: String,
    /// Top of the value axis (the bottom is 0).
    pub y_max: f64,
    /// `(label, value)` per bar, left to right.
    pub bars: Vec<(String, f64)>,
}

/// Draws `chart` into `path` as a `width × height` PNG.
pub fn render_bar_chart(chart: &BarChart, path: &Path, width: u32, height: u32) -> Result<()> {
    check(chart, &path.display().to_string())?;
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    draw(&root, chart)?;
    root.present().map_err(plot_err)
}

/// Draws `chart` into an RGB buffer of `width × height` pixels (3 bytes per pixel,
/// row-major).
pub fn bar_chart_rgb(chart: &BarChart, width: u32, height: u32) -> Result<Vec<u8>> {
    check(chart, &chart.title)?;
    let mut buf = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        draw(&root, chart)?;
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}

fn check(chart: &BarChart, what: &str) -> Result<()> {
    if chart.bars.is_empty() {
        return Err(SftError::InvalidArgument(format!(
            "{what}: a bar chart needs at least one bar"
        )));
    }
    if !(chart.y_max.is_finite() && chart.y_max > 0.0) {
        return Err(SftError::InvalidArgument(format!(
            "{what}: y_max must be a positive number, got {}",
            chart.y_max
        )));
    }
    Ok(())
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    chart: &BarChart,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    register_font()?;
    root.fill(&WHITE).map_err(plot_err)?;
    let n = chart.bars.len();
    let labels: Vec<String> = chart.bars.iter().map(|(l, _)| l.clone()).collect();
    let mut ctx = ChartBuilder::on(root)
        .margin(16)
        .caption(&chart.title, (FAMILY, 22))
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (0..n.saturating_sub(1).max(1)).into_segmented(),
            0.0f64..chart.y_max,
        )
        .map_err(plot_err)?;
    let grey = RGBColor(225, 225, 225);
    ctx.configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(grey)
        .y_labels(11)
        .x_labels(n)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                labels.get(*i).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .y_desc(chart.y_label.as_str())
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(plot_err)?;
    for (i, (_, value)) in chart.bars.iter().enumerate() {
        let v = value.clamp(0.0, chart.y_max);
        let color = COLORS[i % COLORS.len()];
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), v),
            ],
            color.filled(),
        );
        bar.set_margin(0, 0, 24, 24);
        ctx.draw_series(std::iter::once(bar)).map_err(plot_err)?;
        let label_style =
            TextStyle::from((FAMILY, 15).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
        let text_y = (v + chart.y_max * 0.01).min(chart.y_max);
        ctx.draw_series(std::iter::once(Text::new(
            format!("{value:.3}"),
            (SegmentValue::CenterOf(i), text_y),
            label_style,
        )))
        .map_err(plot_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Tallest run of `color` pixels in any column of an RGB buffer.
    fn tallest(buf: &[u8], width: usize, height: usize, color: RGBColor) -> usize {
        (0..width)
            .map(|x| {
                (0..height)
                    .filter(|&y| {
                        let p = (y * width + x) * 3;
                        buf[p..p + 3] == [color.0, color.1, color.2]
                    })
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn bar_heights_are_proportional_to_values() {
        let chart = BarChart {
            title: "pass@1".into(),
            y_label: "fraction".into(),
            y_max: 1.0,
            bars: vec![("a".into(), 0.25), ("b".into(), 1.0)],
        };
        let (w, h) = (600usize, 400usize);
        let buf = bar_chart_rgb(&chart, w as u32, h as u32).unwrap();
        let short = tallest(&buf, w, h, COLORS[0]) as f64;
        let tall = tallest(&buf, w, h, COLORS[1]) as f64;
        // The value axis is linear from 0, so bar heights scale like the values:
        // 0.25 / 1.0 (within a couple of pixels of rounding).
        assert!(tall > 200.0, "full bar only {tall} px tall");
        assert!((short / tall - 0.25).abs() < 0.02, "{short} / {tall}");
    }

    #[test]
    fn empty_and_bad_axes_are_errors() {
        let mut chart = BarChart {
            title: "t".into(),
            y_label: "y".into(),
            y_max: 1.0,
            bars: vec![],
        };
        assert!(bar_chart_rgb(&chart, 100, 100).is_err());
        chart.bars.push(("a".into(), 0.5));
        chart.y_max = f64::NAN;
        assert!(bar_chart_rgb(&chart, 100, 100).is_err());
    }
}
