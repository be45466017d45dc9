//! The PNG plots of `report show`: throughput and latency against concurrency, the
//! consumers' rates, browser placement by pool size.

use std::path::{Path, PathBuf};

use crate::results::{self, Browser, Level};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];
const SIZE: (u32, u32) = (900, 560);

/// Text centred above the point it is drawn at.
fn centred(size: u32) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom))
}

type Draw<E> = Result<(), DrawingAreaErrorKind<E>>;

fn plot_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> anyhow::Error {
    anyhow::anyhow!("drawing: {e}")
}

fn max_clients(series: &[(&str, &[Level])]) -> f64 {
    series
        .iter()
        .flat_map(|(_, l)| l.iter().map(|l| l.clients as f64))
        .fold(1.0, f64::max)
}

/// Throughput against concurrency, clients on a log axis (1, 8, 32, 128).
pub fn throughput_plot(dir: &Path, series: &[(&str, &[Level])]) -> anyhow::Result<PathBuf> {
    let file = dir.join("intake-throughput.png");
    let top = series
        .iter()
        .flat_map(|(_, l)| l.iter().map(|l| l.per_second))
        .fold(1.0, f64::max)
        * 1.15;
    let draw = || -> Draw<_> {
        let root = BitMapBackend::new(&file, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Intake throughput against concurrency", ("sans-serif", 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d((1f64..max_clients(series) * 1.2).log_scale(), 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("concurrent clients")
            .y_desc("per second (checkouts, or transactions)")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()?;
        for (i, (name, levels)) in series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let points: Vec<(f64, f64)> = levels
                .iter()
                .map(|l| (l.clients as f64, l.per_second))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()?;
        root.present()
    };
    draw().map_err(plot_error)?;
    Ok(file)
}

/// p50 and p99 latency against concurrency, both axes logarithmic.
pub fn latency_plot(dir: &Path, series: &[(&str, &[Level])]) -> anyhow::Result<PathBuf> {
    let file = dir.join("intake-latency.png");
    let all = || series.iter().flat_map(|(_, l)| l.iter());
    let top = all().map(|l| l.p99_ms).fold(1.0, f64::max) * 1.5;
    let bottom = all().map(|l| l.p50_ms).fold(top, f64::min).max(0.01) / 1.5;
    let draw = || -> Draw<_> {
        let root = BitMapBackend::new(&file, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Intake latency against concurrency", ("sans-serif", 24))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (1f64..max_clients(series) * 1.2).log_scale(),
                (bottom..top).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc("concurrent clients")
            .y_desc("latency, ms")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()?;
        for (i, (name, levels)) in series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            for (quantile, dashed, pick) in [
                ("p50", false, (|l: &Level| l.p50_ms) as fn(&Level) -> f64),
                ("p99", true, |l: &Level| l.p99_ms),
            ] {
                let points: Vec<(f64, f64)> =
                    levels.iter().map(|l| (l.clients as f64, pick(l))).collect();
                let width = if dashed { 1 } else { 3 };
                chart
                    .draw_series(LineSeries::new(points.clone(), colour.stroke_width(width)))?
                    .label(format!("{name} {quantile}"))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(width))
                    });
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()
    };
    draw().map_err(plot_error)?;
    Ok(file)
}

/// A bar's label: the consumer's first word that names it.
fn short(consumer: &str) -> &str {
    match consumer.split_whitespace().next() {
        Some("Cartwright") => "runtime",
        Some("bare") => "lapin",
        Some(first) => first,
        None => consumer,
    }
}

/// Messages per second of each consumer at each prefetch, as bars.
pub fn runtime_plot(dir: &Path, consumers: &[&results::Consumer]) -> anyhow::Result<PathBuf> {
    let file = dir.join("runtime.png");
    let top = consumers.iter().map(|c| c.per_second).fold(1.0, f64::max) * 1.15;
    let n = consumers.len();
    let draw = || -> Draw<_> {
        let root = BitMapBackend::new(&file, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Consumers: no-op handler, same queue kind, by prefetch",
                ("sans-serif", 24),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            // Discrete ranges are inclusive: 0..n-1 is n bars.
            .build_cartesian_2d((0..n.saturating_sub(1)).into_segmented(), 0f64..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .y_desc("messages per second")
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => consumers
                    .get(*i)
                    .map(|c| format!("{} @{}", short(&c.consumer), c.prefetch))
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .draw()?;
        chart.draw_series(consumers.iter().enumerate().map(|(i, c)| {
            let colour = COLOURS[i % COLOURS.len()];
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), c.per_second),
                ],
                colour.filled(),
            );
            bar.set_margin(0, 0, 30, 30);
            bar
        }))?;
        chart.draw_series(consumers.iter().enumerate().map(|(i, c)| {
            Text::new(
                format!("{:.0}/s", c.per_second),
                (SegmentValue::CenterOf(i), c.per_second + top * 0.01),
                centred(18),
            )
        }))?;
        root.present()
    };
    draw().map_err(plot_error)?;
    Ok(file)
}

/// Orders per minute by browser pool size.
pub fn browser_plot(dir: &Path, browser: &Browser) -> anyhow::Result<PathBuf> {
    let file = dir.join("browser.png");
    let top = browser
        .levels
        .iter()
        .map(|l| l.orders_per_minute)
        .fold(1.0, f64::max)
        * 1.15;
    let right = browser.levels.iter().map(|l| l.pool).max().unwrap_or(1) as f64 + 0.5;
    let draw = || -> Draw<_> {
        let root = BitMapBackend::new(&file, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Browser placement: orders per minute by pool size",
                ("sans-serif", 24),
            )
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.5f64..right, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("browser sessions (pool size)")
            .y_desc("orders per minute")
            .y_label_formatter(&|y| format!("{y:.0}"))
            // Pool sizes are whole: label only the whole ticks.
            .x_labels(20)
            .x_label_formatter(&|x| {
                if (x - x.round()).abs() < 1e-9 {
                    format!("{x:.0}")
                } else {
                    String::new()
                }
            })
            .draw()?;
        let points: Vec<(f64, f64)> = browser
            .levels
            .iter()
            .map(|l| (l.pool as f64, l.orders_per_minute))
            .collect();
        chart.draw_series(LineSeries::new(points.clone(), COLOURS[0].stroke_width(2)))?;
        chart.draw_series(
            points
                .iter()
                .map(|&p| Circle::new(p, 4, COLOURS[0].filled())),
        )?;
        chart.draw_series(browser.levels.iter().map(|l| {
            Text::new(
                format!("{:.2} s/order", l.seconds_per_order),
                (l.pool as f64, l.orders_per_minute + top * 0.02),
                centred(16),
            )
        }))?;
        root.present()
    };
    draw().map_err(plot_error)?;
    Ok(file)
}
